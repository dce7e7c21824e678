"""Streams of frames: the values a video reader yields (`frames`), the threaded, batched path that runs a
PoseNet over them (`pipeline`), and what a stream remembers between frames: ids (`tracking`), One Euro
filtering (`smoothing`) and the two together (`temporal`). Part of the core: it imports no media, output,
jobs, batch or cli."""
