"""The torch layer: networks N and G, their checkpoints, and the fused `AuditGraph` (needs the `train`
extra: torch, torchvision, timm).

- `models`: one file per network family and the registry (`create_model`, `list_models`).
- `checkpoint`, `authors`, `loading`: our safetensors checkpoints, the authors' released files, and
  `load_network`, which builds a network and loads its weights without running anything a file names.
- `graph`: `AuditGraph`, the one fused module that export, the torch backend and parity all run.
- `provenance`: where a network's weights came from, recorded in every exported artefact.
- `rebuild`: an artefact's graph rebuilt from its metadata and verified against the recorded digests.

The runtime reaches this package only lazily (its torch backend); nothing here imports train, runtime
or export.
"""

from depthmask.errors import require

require("torch", "train", "depthmask.nets")
