"""posenet-cli: Google's PoseNet for the command line and Python."""

__version__ = "0.1.0"
