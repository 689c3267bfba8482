"""A file's byte-level layout kept as found: its UTF-8 byte order mark and its CRLF line endings.

Renderers work on LF text without a BOM (tomllib, tomlkit and the JSONC editor all add ``\n``);
:func:`split_layout` takes both off before and :meth:`Layout.restore` puts them back after, so a
Windows-edited file keeps its CRLF and wrangler's BOM-tolerant reader keeps its BOM. A file that mixes
line endings is left as it is: only the lines render adds end in ``\n``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvstack.files import BOM

__all__ = ["Layout", "split_layout"]


@dataclass(frozen=True)
class Layout:
    bom: bool = False
    crlf: bool = False

    def restore(self, text: str) -> str:
        """``text`` (LF, no BOM) in this layout."""
        if self.crlf:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        return BOM + text if self.bom else text


def split_layout(text: str) -> tuple[str, Layout]:
    """``text`` without its BOM and, when every line ends in CRLF, with LF endings; and the layout found."""
    bom = text.startswith(BOM)
    if bom:
        text = text[len(BOM) :]
    newlines = text.count("\n")
    crlf = newlines > 0 and text.count("\r\n") == newlines
    if crlf:
        text = text.replace("\r\n", "\n")
    return text, Layout(bom=bom, crlf=crlf)
