"""How much disk an install of posenet-cli takes, and what takes it: the installed files of each distribution
(their RECORD lists, as pip installed them), for the tool itself (the dependencies pyproject.toml declares,
followed through) and for what each extra adds on top.

    .venv/bin/python tools/install_size.py            # the environment it runs in
"""

from __future__ import annotations

import argparse
import re
from importlib import metadata
from pathlib import Path

import tomllib  # Python 3.11+, as the development environment has
from packaging.requirements import Requirement

ROOT = "posenet-cli"


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_size(dist: metadata.Distribution) -> int:
    """Bytes of the files the distribution installed (its RECORD), those still on disk."""
    total = 0
    for file in dist.files or ():
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            total += path.stat().st_size
    return total


def closure(requirements: list[str]) -> set[str]:
    """The installed distributions `requirements` need, followed through theirs (markers evaluated here)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue
        key = (_key(dist.metadata["Name"]), tuple(sorted(req.extras)))
        if key in seen:
            continue
        seen.add(key)
        envs = [{"extra": e} for e in req.extras] + [{"extra": ""}]
        for line in dist.requires or ():
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                todo.append(sub)
    return {name for name, _ in seen}


def declared(pyproject: Path) -> tuple[list[str], dict[str, list[str]]]:
    """The project's requirements and its extras', as pyproject.toml declares them (the installed metadata
    of an editable install can be older)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return project["dependencies"], project.get("optional-dependencies", {})


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=6, help="largest distributions to name per group")
    top = parser.parse_args().top
    sizes = {_key(d.metadata["Name"]): installed_size(d) for d in metadata.distributions()}
    needs, extras = declared(Path(__file__).resolve().parent.parent / "pyproject.toml")
    tool = closure(needs) | {ROOT}
    groups = [("the tool", tool)] + [(f"[{name}] adds", closure(reqs) - tool) for name, reqs in extras.items()]
    for label, names in groups:
        largest = sorted(names, key=lambda n: -sizes.get(n, 0))[:top]
        parts = ", ".join(f"{n} {_mb(sizes.get(n, 0))}" for n in largest)
        print(f"{label}: {_mb(sum(sizes.get(n, 0) for n in names))} in {len(names)} distributions ({parts})")
    print(f"all installed here: {_mb(sum(sizes.values()))}")


if __name__ == "__main__":
    main()
