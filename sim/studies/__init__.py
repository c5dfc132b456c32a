"""What is learned from many runs: model moments against the public record (``moments``),
estimation by simulated moments (``estimate``), calibration (``calibrate``), the 2024-2025
forecast (``forecast``), sensitivity indices (``sensitivity``) and validation (``validate``)."""
