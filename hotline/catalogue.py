"""The prompt catalogue (`sounds/catalogue.yaml`): each prompt's text per language.

    languages: [en, ru]
    prompts:
      welcome: {en: "Welcome to the hotline.", ru: "Вас приветствует горячая линия."}

A recording at `sounds/<lang>/<key>.wav` overrides the text; the voice runtime renders
the texts that have no recording.
"""

from __future__ import annotations

from collections.abc import KeysView
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hotline.yamlsource import Positions, SourceError, load_yaml, validation_problems

Language = Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
Key = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,80}$")]


class CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    languages: list[Language] = Field(min_length=1)
    prompts: dict[Key, dict[Language, Annotated[str, Field(min_length=1)]]]

    @model_validator(mode="after")
    def _known_languages(self) -> CatalogueFile:
        for key, texts in self.prompts.items():
            unknown = sorted(set(texts) - set(self.languages))
            if unknown:
                raise ValueError(f"prompt {key!r} has texts in undeclared {', '.join(unknown)}")
        return self


@dataclass
class Catalogue:
    """Prompt texts by key and language."""

    languages: list[str]
    prompts: dict[str, dict[str, str]]
    path: Path | None = None
    positions: Positions = field(default_factory=Positions)

    @classmethod
    def load(cls, path: str | Path) -> Catalogue:
        """Read and validate a catalogue; a SourceError names file, line and field."""
        path = Path(path)
        data, positions = load_yaml(path)
        try:
            parsed = CatalogueFile.model_validate(data if data is not None else {})
        except ValidationError as error:
            raise SourceError(validation_problems(error, path, positions, data)) from None
        return cls(parsed.languages, parsed.prompts, path, positions)

    def keys(self) -> KeysView[str]:
        return self.prompts.keys()

    def __contains__(self, key: str) -> bool:
        return key in self.prompts

    def text(self, key: str, lang: str) -> str | None:
        """The prompt's text in `lang`, or None if it has none."""
        return self.prompts.get(key, {}).get(lang)

    def missing(self, lang: str) -> list[str]:
        """Keys with no text in `lang`, sorted."""
        return sorted(k for k, texts in self.prompts.items() if lang not in texts)

    def recording(self, sounds_dir: str | Path, key: str, lang: str) -> Path | None:
        """The recorded prompt `sounds_dir/<lang>/<key>.wav`, if there is one."""
        path = Path(sounds_dir) / lang / f"{key}.wav"
        return path if path.is_file() else None
