"""Bring your own N: a module from a file passes the contract check; a wrong shape is named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from depthmask.errors import ContractError, ModelNotFoundError
from depthmask.nets.checkpoint import read_config, save_checkpoint
from depthmask.nets.loading import load_network

NETS = Path(__file__).with_name("byo_nets.py")


def test_module_from_a_file_stands_as_n(tmp_path: Path) -> None:
    model = load_network(f"{NETS}:good_net", input_size=(64, 96), trusted_factory=f"{NETS}:good_net")
    with torch.no_grad():
        assert tuple(model(torch.zeros(1, 3, 64, 96)).shape) == (1, 1, 32, 48)
    # Its weights round-trip through our format and come back on the same factory.
    path = save_checkpoint(model, tmp_path / "n.safetensors")
    assert read_config(path)["network"] == f"{NETS}:good_net"
    again = load_network(None, path, input_size=(64, 96), trusted_factory=f"{NETS}:good_net")
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_wrong_output_shape_is_named() -> None:
    with pytest.raises(ContractError, match=r"returned shape \(2, 3, 32, 48\) for input \(2, 3, 64, 96\)"):
        load_network(f"{NETS}:bad_net", input_size=(64, 96), trusted_factory=f"{NETS}:bad_net")


def test_factory_errors() -> None:
    with pytest.raises(ContractError, match="returned a str"):
        load_network(f"{NETS}:not_a_module", trusted_factory=f"{NETS}:not_a_module")
    with pytest.raises(ModelNotFoundError, match="has no attribute 'missing'"):
        load_network(f"{NETS}:missing", trusted_factory=f"{NETS}:missing")
    with pytest.raises(ModelNotFoundError, match=r"could not import 'no_such_pkg\.nets'"):
        load_network("no_such_pkg.nets:factory", trusted_factory="no_such_pkg.nets:factory")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_network("nowhere/nets.py:factory", trusted_factory="nowhere/nets.py:factory")
