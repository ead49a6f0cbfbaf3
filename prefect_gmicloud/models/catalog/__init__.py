"""One module per model (or per family of closely related ids): its payload class and spec.

The registry imports every module here and registers each payload class that names a
``model_id``: adding a model is adding a file.
"""
