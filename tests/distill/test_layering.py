"""Dependencies run one way: the detection core <- the student <- the evaluation <- training <- the API <-
the command line. Read from the source, so that a lazy import inside a function counts too."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "distill"
# what each layer may import from distill (besides itself)
ALLOWED = {
    "detection": {"distill.choices"},
    "student": {"distill.choices", "distill.detection", "distill.pretrained"},
    "eval": {"distill.choices", "distill.detection", "distill.student"},
}


def distill_imports(folder: Path) -> dict[str, set[str]]:
    found = {}
    for path in folder.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("distill"):
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names if alias.name.startswith("distill")}
        found[str(path.relative_to(PACKAGE.parent))] = names
    return found


@pytest.mark.parametrize("layer", list(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(layer):
    own = f"distill.{layer}"
    wrong = {path: sorted(name for name in names if not (name == own or name.startswith(own + ".") or
                                                          any(name == a or name.startswith(a + ".") for a in ALLOWED[layer])))
             for path, names in distill_imports(PACKAGE / layer).items()}
    assert not {path: names for path, names in wrong.items() if names}
