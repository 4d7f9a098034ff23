"""Photo avatars: one portrait, its FaceLandmarker mesh, and a warp driven by ``FaceState``.

``PhotoRenderer`` implements ``render.renderer.Renderer``; ``make_renderer`` returns it when a
persona's ``avatar.photo`` is set.
"""

from render.photo.portrait import PhotoError, Portrait, load_portrait
from render.photo.renderer import PhotoRenderer

__all__ = ["PhotoError", "PhotoRenderer", "Portrait", "load_portrait"]
