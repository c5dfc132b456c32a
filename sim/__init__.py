"""Agent-based model of Indonesian e-commerce under the 2023 social-commerce ban and its sequels."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("indonesia-ecommerce-abm")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
