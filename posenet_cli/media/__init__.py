"""Media in and out: images, videos and cameras read as RGB frames, inputs expanded from the command line,
annotated images and videos written (through the atomic writes of `posenet_cli.files`)."""

from .inputs import IMAGE, IMAGE_EXTENSIONS, VIDEO, VIDEO_EXTENSIONS, MediaError, expand_inputs, kind_of

__all__ = ["IMAGE", "IMAGE_EXTENSIONS", "VIDEO", "VIDEO_EXTENSIONS", "MediaError", "expand_inputs", "kind_of"]
