"""The ground layer: the config schema (``config``), the packaged configs read onto it
(``packaged``), the tidy table every run writes and the reductions all layers read it by
(``tables``), the week calendar (``weeks``) and the errors the faces report (``errors``)."""
