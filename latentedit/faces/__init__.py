"""Faces in photos: robust loading, MTCNN detection + 5 landmarks, FFHQ-style alignment, paste-back.

    photo = load_photo("me.jpg")                          # (H, W, 3) uint8, upright; PhotoError otherwise
    faces = select_faces(detect_faces(photo), "largest", "me.jpg")
    crop, t = align_face(photo, faces[0].landmarks, 256)  # (1, 3, 256, 256) in [-1, 1], AlignTransform
    edited_photo = paste_back(photo, edited_crop, t)      # feathered, colour-matched seam
"""

from latentedit.faces.align import AlignTransform, align_face, ffhq_quad, transform_from_quad, warp_crop
from latentedit.faces.detect import Face, detect_faces, parse_face_choice, select_faces
from latentedit.faces.loading import PhotoError, load_photo, photo_to_tensor, pil_to_rgb_array, tensor_to_photo
from latentedit.faces.paste import paste_back

__all__ = ["AlignTransform", "Face", "PhotoError", "align_face", "detect_faces", "ffhq_quad", "load_photo",
           "parse_face_choice", "paste_back", "photo_to_tensor", "pil_to_rgb_array", "select_faces",
           "tensor_to_photo", "transform_from_quad", "warp_crop"]
