"""The image generation example: a burst far above GPU capacity completes fully.

Modules:
    models      Pydantic inputs, outputs and progress of the workflow.
    activities  moderate_prompt, render_image (HTTP to the GPU service), store_image.
    workflows   GenerateImage: moderate -> render -> store, progress by query.
    blobstore   a directory blob store keyed by workflow id (idempotent writes).
    gpu         a fake GPU inference service (``python -m imagegen.gpu``).
    frontend    the HTTP front end (``python -m imagegen.frontend``).
"""
