from pathlib import Path

import pytest
import yaml

from hotline.config import load_config
from hotline.yamlsource import SourceError

ROOT = Path(__file__).resolve().parents[3]


def config_with(tmp_path: Path, speech: dict) -> Path:
    data = yaml.safe_load((ROOT / "config/hotline.yaml").read_text())
    data["speech"] = speech
    path = tmp_path / "hotline.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def test_speech_section_defaults_and_model_paths(tmp_path):
    config = load_config(config_with(tmp_path, {"models": {"ko": "models/ko"}}))
    assert config.speech.min_confidence == 0.6 and config.speech.max_streams == 8
    assert config.speech.model_dirs(Path("/srv/hotline")) == {"ko": Path("/srv/hotline/models/ko")}


def test_keywords_for_an_unknown_queue_are_refused(tmp_path):
    path = config_with(tmp_path, {"keywords": {"sales": {"cancel": ["cancel"]}}})
    with pytest.raises(SourceError, match=r"speech\.keywords: no queue named sales"):
        load_config(path)


def test_live_transcripts_are_off_by_default_and_name_real_queues(tmp_path):
    config = load_config(config_with(tmp_path, {"models": {"ko": "models/ko"}}))
    assert config.speech.live_transcripts == [] and config.speech.live_phrases == {}
    assert not config.speech.transcribes_live("support")
    path = config_with(tmp_path, {"live_transcripts": ["support", "sales"]})
    with pytest.raises(SourceError, match=r"speech\.live_transcripts: no queue named sales$"):
        load_config(path)
    everywhere = load_config(config_with(tmp_path, {"live_transcripts": ["*"]}))
    assert everywhere.speech.transcribes_live("support")


def test_bad_live_phrases_name_the_field(tmp_path):
    bad = {"live_phrases": {"korean": ["x"], "ko": ["", "y" * 201]}}
    with pytest.raises(SourceError) as error:
        load_config(config_with(tmp_path, bad))
    text = str(error.value)
    assert "speech.live_phrases.korean" in text
    assert "speech.live_phrases.ko.0" in text and "speech.live_phrases.ko.1" in text


def test_bad_speech_values_name_the_field(tmp_path):
    with pytest.raises(SourceError) as error:
        load_config(config_with(tmp_path, {"min_confidence": 2, "models": {"korean": "x"}}))
    text = str(error.value)
    assert "speech.min_confidence" in text and "speech.models.korean" in text


async def test_a_missing_model_folder_refuses_the_start(tmp_path):
    from controller.speech import start_speech

    config = load_config(config_with(tmp_path, {"models": {"ko": "no/such/model"}}))
    with pytest.raises(ValueError) as error:
        await start_speech(config, tmp_path, store=None)  # type: ignore[arg-type]
    assert str(error.value) == f"speech.models.ko: {tmp_path / 'no/such/model'} is not a directory"
    config = load_config(config_with(tmp_path, {}))
    assert await start_speech(config, tmp_path, store=None) is None  # type: ignore[arg-type]


async def test_the_debug_audio_folder_is_off_by_default_and_relative_to_the_home(tmp_path):
    from controller.speech import start_speech

    model = tmp_path / "models/ko"
    (model / "am").mkdir(parents=True)
    (model / "conf").mkdir()
    config = load_config(config_with(tmp_path, {"models": {"ko": "models/ko"}}))
    assert config.speech.debug_audio is None
    speech = await start_speech(config, tmp_path, store=None)  # type: ignore[arg-type]
    assert speech is not None and speech.settings.debug_audio is None
    await speech.close()
    on = {"models": {"ko": "models/ko"}, "debug_audio": "var/live-audio"}
    config = load_config(config_with(tmp_path, on))
    speech = await start_speech(config, tmp_path, store=None)  # type: ignore[arg-type]
    assert speech is not None and speech.settings.debug_audio == tmp_path / "var/live-audio"
    await speech.close()
    with pytest.raises(SourceError, match=r"speech\.debug_audio"):
        load_config(config_with(tmp_path, {"debug_audio": ""}))
