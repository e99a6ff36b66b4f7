"""SentencePiece's BPE encoder, rebuilt in plain Python: the rule that turns text into Llama 2's token ids.

A trained SentencePiece BPE model is a list of pieces, each with a score (later merges score lower). Encoding
needs nothing else:

1. normalise: with Llama 2's recipe the text is kept as it is, except that every space becomes "▁" (U+2581)
   and one "▁" is put in front (the "dummy prefix", so that "world" at the start of a text and in
   "hello world" give the same piece);
2. split into single characters;
3. repeatedly merge the adjacent pair whose concatenation is a piece with the highest score (ties: the
   leftmost pair), until no adjacent pair forms a piece;
4. look up each final symbol's id; a symbol that is not a piece (an emoji, a script the model never saw)
   becomes its UTF-8 bytes, each a byte piece <0x00>..<0xFF> ("byte fallback"), so nothing is unknown.

Example (Llama 2's tokenizer):
    "Hi 🦙" -> "▁Hi▁🦙" -> ▁ H i ▁ 🦙 -> ... -> ["▁Hi", "▁", "🦙"] -> ids [6324, 29871, 243, 162, 169, 156]

This follows `bpe_model.cc` of SentencePiece (a priority queue of candidate pairs with stale entries skipped).
Models whose pieces include UNUSED or user-defined ones, or that normalise text (NFKC, removing extra
spaces), need more than this file does; `from_tokenizer` checks the normalisation and says so.
"""

from __future__ import annotations

import heapq

SPACE = "\u2581"  # "▁", SentencePiece's visible space


class SentencePieceBPE:
    """Encode text to ids with a SentencePiece BPE vocabulary: `SentencePieceBPE.from_tokenizer(tok).encode(s)`."""

    def __init__(self, pieces: dict[str, int], scores: dict[int, float], unk_id: int,
                 byte_ids: dict[int, int] | None = None, add_dummy_prefix: bool = True):
        self.pieces = pieces  # piece -> id, for the pieces merges may produce (normal ones)
        self.scores = scores  # id -> score
        self.unk_id = unk_id
        self.byte_ids = byte_ids or {}  # byte value 0..255 -> id of "<0x..>"; empty means no byte fallback
        self.add_dummy_prefix = add_dummy_prefix

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "SentencePieceBPE":
        """Read pieces and scores from a `Tokenizer` (or a `sentencepiece.SentencePieceProcessor`)."""
        sp = getattr(tokenizer, "sp_model", tokenizer)
        pieces, scores, byte_ids, unk_id = {}, {}, {}, sp.unk_id()
        for i in range(sp.get_piece_size()):
            piece = sp.id_to_piece(i)
            if sp.is_byte(i):
                byte_ids[int(piece[3:5], 16)] = i  # "<0xE2>" -> 0xE2
            elif sp.is_unused(i):
                raise ValueError(f"piece {i} {piece!r} is UNUSED: this encoder does not implement SentencePiece's "
                                 "re-segmentation of unused pieces")
            elif not (sp.is_control(i) or sp.is_unknown(i)):
                pieces[piece] = i
                scores[i] = sp.get_score(i)
        bpe = cls(pieces, scores, unk_id, byte_ids, add_dummy_prefix=True)
        probe = "  Two  spaces,\ttabs\nand é"
        if sp.normalize(probe) != bpe.normalize(probe):
            raise ValueError(f"this SentencePiece model normalises {probe!r} to {sp.normalize(probe)!r}, not "
                             f"{bpe.normalize(probe)!r}: the encoder follows Llama 2's recipe (identity "
                             "normalisation, dummy prefix, spaces kept) and cannot reproduce this model")
        return bpe

    def normalize(self, text: str) -> str:
        """Llama 2's normalisation: spaces -> "▁", plus a leading "▁" (none for the empty string)."""
        if not text:
            return ""
        return (SPACE if self.add_dummy_prefix else "") + text.replace(" ", SPACE)

    def merge(self, symbols: list[str], steps: list | None = None) -> list[str]:
        """Apply BPE merges to a list of symbols; append (left, right, score) to `steps` for each merge.

        Example (Llama 2): ["▁", "l", "o", "w"] -> ["▁low"] after 3 merges.
        """
        symbols = list(symbols)  # symbols[i] is the symbol that starts at i; "" once merged into its left
        next_ = list(range(1, len(symbols))) + [-1]
        prev = list(range(-1, len(symbols) - 1))
        queue = []  # candidate merges: (-score, left index, right index, merged piece); best first

        def add_candidate(left: int, right: int):
            if left < 0 or right < 0:
                return
            merged = symbols[left] + symbols[right]
            if merged in self.pieces:
                heapq.heappush(queue, (-self.scores[self.pieces[merged]], left, right, merged))

        for i in range(1, len(symbols)):
            add_candidate(i - 1, i)
        while queue:
            neg_score, left, right, merged = heapq.heappop(queue)
            if not symbols[left] or not symbols[right] or symbols[left] + symbols[right] != merged:
                continue  # stale: a side has been merged into something else since this entry was queued
            if steps is not None:
                steps.append((symbols[left], symbols[right], -neg_score))
            symbols[left], symbols[right] = merged, ""
            next_[left] = next_[right]
            if next_[right] >= 0:
                prev[next_[right]] = left
            add_candidate(prev[left], left)
            add_candidate(left, next_[left])
        return [s for s in symbols if s]

    def encode_pieces(self, text: str) -> list[str]:
        """The pieces of `text`, byte fallback included: "🦙" -> ["▁", "<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"]."""
        out = []
        for symbol in self.merge(list(self.normalize(text))):
            if symbol in self.pieces or not self.byte_ids:
                out.append(symbol)
            else:
                out.extend(f"<0x{b:02X}>" for b in symbol.encode("utf-8"))
        return out

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without BOS/EOS: equal to SentencePiece's `encode(text)`."""
        ids = []
        for symbol in self.merge(list(self.normalize(text))):
            if symbol in self.pieces:
                ids.append(self.pieces[symbol])
            elif self.byte_ids:
                ids.extend(self.byte_ids[b] for b in symbol.encode("utf-8"))
            else:
                ids.append(self.unk_id)
        return ids

    def __len__(self) -> int:
        return len(self.pieces) + len(self.byte_ids)
