"""`hotline asterisk export`: fragments an existing Asterisk can include as they are."""

from __future__ import annotations

from pathlib import Path

from controller.instance import export_fragments
from controller.secrets import load_secrets
from hotline.config import HotlineConfig

HOME = Path(__file__).resolve().parents[2]


def test_fragments_carry_hotline_only(tmp_path: Path) -> None:
    config = HotlineConfig.model_validate(
        {
            "numbers": {"100": "main", "5550100": "main"},
            "asterisk": {
                "managed": False,
                "ari_url": "http://127.0.0.1:8088",
                "ari_user": "hotline-ari",
                "ari_password": "ari-secret-from-config",
                "ami_user": "hotline-ami",
                "ami_secret": "ami-secret-from-config",
            },
            "agents": [{"id": "alice", "name": "Alice", "endpoint": "1001"}],
        }
    )
    secrets = load_secrets(tmp_path / "secrets.yaml", ["1001"])
    written = export_fragments(config, secrets, HOME, tmp_path / "out")

    names = sorted(p.name for p in written)
    assert names == [
        "ari_hotline.conf", "extensions_hotline.conf", "manager_hotline.conf", "pjsip_hotline.conf",
    ]  # fmt: skip
    text = {p.name: p.read_text() for p in written}
    for body in text.values():
        # Their [general], [global], transports and anonymous endpoint stay theirs.
        assert "[general]" not in body and "[global]" not in body
        assert "type = transport" not in body and "[anonymous]" not in body
    assert "[hotline-ari]" in text["ari_hotline.conf"]
    assert "password = ari-secret-from-config" in text["ari_hotline.conf"]
    assert "secret = ami-secret-from-config" in text["manager_hotline.conf"]
    assert f"password = {secrets.agent_passwords['1001']}" in text["pjsip_hotline.conf"]
    assert "exten => 100,1,Stasis(hotline,inbound)" in text["extensions_hotline.conf"]
    assert "exten => 5550100,1,Stasis(hotline,inbound)" in text["extensions_hotline.conf"]
