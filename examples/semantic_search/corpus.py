"""The search corpus: passages of Python's documentation (the reStructuredText sources that Debian's
python3.11-doc installs in /usr/share/doc/python3.11/html/_sources), offline.

Each source file is cut into prose sentences exactly as bench/vq_datasets.py does for the VQ benchmark
(paragraphs, code blocks and directives dropped, roles unwrapped, sentences of 30-400 characters); a passage is
`window` consecutive sentences of one file, one starting at every sentence (stride 1, so neighbours overlap by
window - 1 sentences); a file with fewer sentences is one passage. Repeated passages are kept once.
windows=(3,) gives ~58k passages; windows=(3, 2) adds the 2-sentence windows (~115k), for the 100k-vector bench.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def passages(windows=(3,), limit=None):
    """[{"text", "src"}] in file order (window by window); limit keeps the first `limit`."""
    sys.path.insert(0, str(ROOT / "bench"))
    from vq_datasets import doc_file_sentences
    files = doc_file_sentences()
    out, seen = [], set()
    for w in windows:
        for src, sents in files:
            for i in range(max(1, len(sents) - w + 1)):
                text = " ".join(sents[i:i + w])
                if text and text not in seen:
                    seen.add(text)
                    out.append({"text": text, "src": src})
    return out[:limit] if limit else out


if __name__ == "__main__":
    for ws in ((3,), (3, 2)):
        p = passages(ws)
        print(ws, len(p), "passages, mean", sum(len(x["text"]) for x in p) // len(p), "chars")
