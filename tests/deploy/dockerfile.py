"""What deploy/Dockerfile's final stage says: its ENTRYPOINT, CMD, ENV and USER (no engine needed)."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.chart import ROOT

DOCKERFILE = ROOT / "deploy" / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def exec_form(self, keyword: str) -> list[str]:
        (last,) = self.all(keyword)[-1:]
        value: list[str] = json.loads(last)
        return value

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
        return env


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    text = re.sub(r"\\\n", " ", path.read_text())
    result: list[Stage] = []
    args_before_from: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not result:
            key, _, default = args.partition("=")
            args_before_from[key.strip()] = default.strip()
        elif keyword == "FROM":
            parts = re.sub(r"\$\{(\w+)\}", lambda m: args_before_from[m.group(1)], args).split()
            result.append(Stage(parts[0], parts[2] if len(parts) > 2 else None))
        elif result:
            result[-1].instructions.append((keyword, args.strip()))
    return result


def final_stage() -> Stage:
    return stages()[-1]
