"""A live call's question when every recognition slot is taken: keys at once, and
the answer says why speech was not used."""

import time
from pathlib import Path

from ari_app.media import MediaServer
from ari_app.speech import SpeechSettings, VoiceSpeech
from hotline.flows.port import Answer, Ask, Prompt
from hotline.speech.grammar import menu_grammar
from hotline.speech.vosk_engine import VoskRecogniser


class KeysOnlyPort:
    channel_id = "caller-1"

    def __init__(self) -> None:
        self.asked: list[Ask] = []

    async def ask_keys(self, ask: Ask, language: str) -> Answer:
        self.asked.append(ask)
        return Answer("2")


async def test_busy_recogniser_asks_with_keys_at_once():
    recogniser = VoskRecogniser({"ko": Path("unused")}, max_streams=1, workers=1)
    recogniser._models["ko"] = object()
    taken = recogniser.stream("ko", None)  # another caller is talking
    speech = VoiceSpeech(None, SpeechSettings(recogniser, MediaServer(), "hotline"), "caller-1")  # type: ignore[arg-type]
    port = KeysOnlyPort()
    grammar = menu_grammar({"2": {"ko": ["상담원"]}}, "ko")
    ask = Ask(prompts=[Prompt(key="main_menu")], speech=grammar)

    started = time.perf_counter()
    answer = await speech.ask(port, ask, "ko")  # type: ignore[arg-type]
    assert time.perf_counter() - started < 0.1
    assert answer == Answer("2", speech_unavailable="busy")
    assert port.asked == [ask]
    assert recogniser.active == 1  # only the other caller's stream
    await speech.close()  # nothing was opened in Asterisk: nothing to remove
    await taken.close()
    await recogniser.close()
