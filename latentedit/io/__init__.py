"""Reading and writing networks: our ``.safetensors`` files and the checkpoints people already have.

- ``checkpoints``: ``detect_format``, ``load_generator``, ``load_discriminator``, ``convert_checkpoint`` for every
  supported format (latentedit, rosinality ``.pt``, NVIDIA ``.pkl``, NVIDIA state dicts), ``CheckpointError``.
- ``ours``: save/load our generator and discriminator files; ``modelfile``: the generic file format.
- ``rosinality_pt`` / ``nvidia_pkl``: foreign key maps; ``arch_infer``: config from tensor shapes.
- ``restricted_unpickler``: the allow-list unpickler for NVIDIA pickles (nothing in a file ever runs);
  ``torch_files``: weights-only ``torch.load`` with one-line errors.

Submodules are imported on use so that ``import latentedit.io`` stays cheap.
"""
