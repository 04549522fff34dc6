"""A deterministic mail corpus holding the traps a mailbox import must survive.

The traps are the ones measured on a real mailbox (engineering notes, IMAP import):
byte-identical twins in one folder, distinct messages sharing a Message-ID, messages
with neither Message-ID nor Received, bare-LF line ends, a header without a body
separator, 8-bit headers, every flag combination with keywords, internal dates from
1998 and in many time zones, nested, non-ASCII, dotted and ``~`` folder names, a
container-only parent and an empty folder, multipart messages with attachments of a
few MB. ``generate`` only plans the corpus (a few numbers per message); the bytes of a
message are made when a folder is iterated, from a seed of its own, so a 150 MB corpus
is never held in memory and every iteration yields the same bytes.

The server side (``load_into``, ``read_multiset``) is in ``tests.mailcorpusimap``.
"""

from __future__ import annotations

import base64
import itertools
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

from domain.importplan import MessageKey, message_key

SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
KEYWORDS = ("$Forwarded", "Work")
ALL_FLAGS = SYSTEM_FLAGS + KEYWORDS
# Every subset of the flags, so a corpus of at least this many messages has them all.
FLAG_COMBINATIONS: tuple[tuple[str, ...], ...] = tuple(
    combo
    for r in range(len(ALL_FLAGS) + 1)
    for combo in itertools.combinations(ALL_FLAGS, r)
)

# The names of the traps, as CorpusMessage.traps and the unit tests name them.
TWIN = "twin"  # byte-identical to another message of its folder
SHARED_ID = "shared-message-id"  # a distinct message with another one's Message-ID
NO_ID = "no-message-id-no-received"
BARE_LF = "bare-lf"
NO_SEPARATOR = "no-header-body-separator"
EIGHT_BIT = "8bit-header"
OLD_DATE = "old-internal-date"
ATTACHMENT = "attachment"
TRAPS = frozenset(
    {TWIN, SHARED_ID, NO_ID, BARE_LF, NO_SEPARATOR, EIGHT_BIT, OLD_DATE, ATTACHMENT}
)

Path = tuple[str, ...]

# (path, share of the regular messages); weight 0 and not a container: an empty folder.
FOLDERS: tuple[tuple[Path, int], ...] = (
    (("INBOX",), 30),
    (("Sent",), 8),
    (("Archiv", "2019"), 10),
    (("Archiv", "2019", "Q4"), 3),
    (("Archiv", "2020"), 8),
    (("Réunions",), 6),
    (("日本語",), 4),
    (("Projekte",), 6),
    (("Projekte", "Kunden.2024"), 5),
    (("Notes~old",), 3),
    (("Entwürfe & Ideen",), 3),
    (("Leer",), 0),
)
# Parents that are only containers: never created, never given a message.
CONTAINERS: frozenset[Path] = frozenset({("Archiv",)})

MB = 1024 * 1024
MAX_ATTACHMENT = 4 * MB
BIG_ATTACHMENT = 3 * MB  # the first attachment, when the corpus is large enough
ATTACHMENT_SHARE = 10  # one regular message in this many has attachments
OLDEST = datetime(1998, 3, 14, 9, 26, 53, tzinfo=UTC)
NEWEST = datetime(2024, 11, 30, 23, 59, 59, tzinfo=UTC)
ZONES = tuple(
    timezone(timedelta(minutes=m))
    for m in (0, 60, 120, -300, -480, 330, 345, 540, -210)
)
_WORD_TEXT = (
    "meeting budget invoice report schedule draft review contract holiday project team "
    "update question answer attached please thanks regards Grüße café naïve Zürich déjà "
    "東京 予定 quarter numbers figures tomorrow yesterday office"
)
WORDS = tuple(_WORD_TEXT.split())


@dataclass(frozen=True)
class CorpusMessage:
    raw: bytes
    flags: tuple[str, ...]
    internal_date: datetime  # aware, whole seconds
    traps: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Plan:
    """What a message will be; its bytes come from ``seed`` alone (a twin reuses one)."""

    seed: str
    kind: str  # "text", or one of the traps that changes the bytes
    size: int  # the payload to aim for (attachment bytes or text)
    flags: tuple[str, ...]
    internal_date: datetime
    message_id: str | None  # None: no Message-ID header
    traps: frozenset[str]


@dataclass(frozen=True)
class CorpusFolder:
    path: Path
    container: bool = False
    plans: tuple[_Plan, ...] = field(default=(), repr=False)

    def __len__(self) -> int:
        return len(self.plans)

    def __iter__(self) -> Iterator[CorpusMessage]:
        """The messages, made one at a time (the same bytes on every iteration)."""
        for plan in self.plans:
            yield CorpusMessage(
                _build(plan), plan.flags, plan.internal_date, plan.traps
            )


@dataclass(frozen=True)
class Corpus:
    seed: int
    folders: tuple[CorpusFolder, ...]

    @property
    def messages(self) -> int:
        return sum(len(f) for f in self.folders)

    def folder(self, path: Path) -> CorpusFolder:
        return next(f for f in self.folders if f.path == path)


def generate(seed: int, messages: int = 2_000, total_mb: float = 20.0) -> Corpus:
    """A corpus of about ``total_mb`` MB in ``messages`` messages (traps included)."""
    rng = random.Random(f"mailcorpus:{seed}")  # noqa: S311 - test data, seeded
    planner = _Planner(seed, rng)
    traps = planner.traps()
    regular = max(0, messages - sum(len(v) for v in traps.values()))
    per_folder = _split(rng, regular)
    sizes = _sizes(rng, regular, int(total_mb * MB))
    folders = [CorpusFolder(path, container=True) for path in sorted(CONTAINERS)]
    cursor = 0
    for path, _ in FOLDERS:
        plans = list(traps.get(path, ()))
        for size, attached in sizes[cursor : cursor + per_folder[path]]:
            plans.insert(
                rng.randrange(len(plans) + 1), planner.regular(size, attached=attached)
            )
        cursor += per_folder[path]
        folders.append(CorpusFolder(path, plans=tuple(plans)))
    return Corpus(seed, tuple(folders))


def _split(rng: random.Random, regular: int) -> dict[Path, int]:
    weights = [w for _, w in FOLDERS]
    counts = Counter(rng.choices(range(len(FOLDERS)), weights, k=regular))
    return {path: counts[i] for i, (path, _) in enumerate(FOLDERS)}


def _sizes(rng: random.Random, regular: int, target: int) -> list[tuple[int, bool]]:
    """(payload size, has attachments) per regular message, summing to about ``target``."""
    attached = [i % ATTACHMENT_SHARE == ATTACHMENT_SHARE - 1 for i in range(regular)]
    rng.shuffle(attached)
    texts = [rng.lognormvariate(0, 0.8) for _ in range(regular)]
    text_budget = min(target * 0.3, (regular - sum(attached)) * 6_000)
    scale = text_budget / (
        sum(t for t, a in zip(texts, attached, strict=True) if not a) or 1
    )
    sizes = [max(200, int(t * scale)) for t in texts]
    budget = target - sum(s for s, a in zip(sizes, attached, strict=True) if not a)
    weights = [rng.lognormvariate(0, 1.2) if a else 0.0 for a in attached]
    first = next((i for i, a in enumerate(attached) if a), None)
    if first is not None and budget > 2 * BIG_ATTACHMENT:
        weights[first] = 0.0
        sizes[first] = BIG_ATTACHMENT
        budget -= BIG_ATTACHMENT
    total = sum(weights) or 1.0
    for i, w in enumerate(weights):
        if w:
            sizes[i] = min(MAX_ATTACHMENT, max(2_000, int(w / total * budget)))
    return list(zip(sizes, attached, strict=True))


class _Planner:
    def __init__(self, seed: int, rng: random.Random) -> None:
        self.seed = seed
        self.rng = rng
        self.count = 0
        order = list(range(len(FLAG_COMBINATIONS)))
        rng.shuffle(order)
        self.flag_order = order

    def _next(self, kind: str, size: int, traps: frozenset[str], **kw: object) -> _Plan:
        n = self.count
        self.count += 1
        span = int((NEWEST - OLDEST).total_seconds())
        at = OLDEST + timedelta(seconds=self.rng.randrange(span))
        zone = self.rng.choice(ZONES)
        plan = _Plan(
            seed=f"{self.seed}:{n}",
            kind=kind,
            size=size,
            flags=FLAG_COMBINATIONS[self.flag_order[n % len(self.flag_order)]],
            internal_date=at.astimezone(zone),
            message_id=f"<{self.seed}.{n}.{self.rng.getrandbits(32):08x}@corpus.example>",
            traps=traps | ({EIGHT_BIT} if self.rng.random() < 0.1 else set()),
        )
        return _replace(plan, **kw)

    def regular(self, size: int, *, attached: bool) -> _Plan:
        traps = frozenset({ATTACHMENT}) if attached else frozenset()
        return self._next("attachment" if attached else "text", size, traps)

    def traps(self) -> dict[Path, list[_Plan]]:
        """The trap messages, a few per folder, whatever the corpus size."""
        small = 1_500
        twin = self._next("text", small, frozenset({TWIN}))
        no_id_twin = self._next(
            "text", small, frozenset({TWIN, NO_ID}), message_id=None
        )
        shared = self._next("text", small, frozenset({SHARED_ID}))
        triple = self._next("attachment", 40_000, frozenset({TWIN, ATTACHMENT}))
        old = OLDEST - timedelta(days=30)
        return {
            ("INBOX",): [
                twin,
                _replace(twin, flags=("\\Seen",)),
                shared,
                self._next(
                    "text", small, frozenset({SHARED_ID}), message_id=shared.message_id
                ),
                *(
                    self._next("text", small, frozenset({NO_ID}), message_id=None)
                    for _ in range(3)
                ),
            ],
            ("Sent",): [no_id_twin, no_id_twin],
            ("Archiv", "2019"): [
                triple,
                triple,
                _replace(triple, flags=()),
                self._next("text", small, frozenset({OLD_DATE}), internal_date=old),
            ],
            ("Réunions",): [
                self._next(
                    "text", small, frozenset({SHARED_ID}), message_id=shared.message_id
                ),
                self._next("eight-bit", small, frozenset({EIGHT_BIT})),
                self._next("latin-1", small, frozenset({EIGHT_BIT})),
            ],
            ("Projekte",): [
                self._next("bare-lf", small, frozenset({BARE_LF})) for _ in range(2)
            ],
            ("日本語",): [
                self._next("no-separator", 0, frozenset({NO_SEPARATOR})),
                self._next("headers-only", 0, frozenset({NO_SEPARATOR})),
            ],
        }


def _replace(plan: _Plan, **changes: object) -> _Plan:
    fields = dict(plan.__dict__)
    fields.update(changes)
    return _Plan(**fields)


# -- the bytes -------------------------------------------------------------------------


def _build(plan: _Plan) -> bytes:
    rng = random.Random(f"message:{plan.seed}")  # noqa: S311 - test data, seeded
    eight_bit = EIGHT_BIT in plan.traps
    header = _header(plan, rng, eight_bit=eight_bit)
    if plan.kind == "headers-only":
        return "".join(header).encode()
    if plan.kind == "no-separator":
        return (
            "".join(header) + "this line is body text, with no blank line before it\r\n"
        ).encode()
    if plan.kind == "latin-1":
        header = [
            "Subject: Re: R\xe9union \xe0 Z\xfcrich\r\n"
            if h.startswith("Subject:")
            else h
            for h in header
        ]
        latin = "".join(header).encode("latin-1", errors="replace")
        return latin + b"\r\n" + _text(rng, plan.size).encode()
    if plan.kind == "attachment":
        return _multipart(rng, header, plan.size)
    body = _text(rng, plan.size)
    raw = ("".join(header) + "\r\n" + body).encode()
    return raw.replace(b"\r\n", b"\n") if plan.kind == "bare-lf" else raw


def _header(plan: _Plan, rng: random.Random, *, eight_bit: bool) -> list[str]:
    n = plan.seed.rsplit(":", 1)[1]
    name = "Zoë Müller-Ōtani" if eight_bit else f"Person {rng.randrange(500)}"
    subject = (
        f"Réunion 会議 {n}"
        if eight_bit or plan.kind == "eight-bit"
        else f"{rng.choice(WORDS)} {n}"
    )
    sent = plan.internal_date - timedelta(seconds=rng.randrange(1, 600))
    lines = [
        f"From: {name} <p{rng.randrange(500)}@example.org>\r\n",
        "To: owner@corpus.example\r\n",
        f"Subject: {subject}\r\n",
        f"Date: {format_datetime(sent)}\r\n",
    ]
    if NO_ID not in plan.traps:
        lines.insert(
            0,
            f"Received: from mx{rng.randrange(9)}.example.org by mx.corpus.example;\r\n"
            f"\t{format_datetime(plan.internal_date)}\r\n",
        )
    if plan.message_id is not None:
        lines.append(f"Message-ID: {plan.message_id}\r\n")
    if plan.kind not in {"headers-only", "no-separator", "attachment"}:
        lines += [
            "MIME-Version: 1.0\r\n",
            "Content-Type: text/plain; charset=utf-8\r\n",
            "Content-Transfer-Encoding: 8bit\r\n",
        ]
    return lines


def _words(i: int) -> list[str]:
    rng = random.Random(f"paragraph:{i}")  # noqa: S311 - test data, seeded
    return rng.choices(WORDS, k=40 + i % 30)


_PARAGRAPHS = tuple(" ".join(_words(i)) + "\r\n\r\n" for i in range(64))


def _text(rng: random.Random, size: int) -> str:
    parts = [f"Text {rng.getrandbits(64):016x}\r\n\r\n"]
    length = len(parts[0])
    while length < size:
        parts.append(rng.choice(_PARAGRAPHS))
        length += len(parts[-1])
    return "".join(parts)


def _multipart(rng: random.Random, header: list[str], size: int) -> bytes:
    boundary = f"=_corpus_{rng.getrandbits(48):012x}"
    parts = max(1, min(3, size // 200_000))
    out = [
        *header,
        "MIME-Version: 1.0\r\n",
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n',
        "\r\n",
        "This is a multi-part message in MIME format.\r\n",
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n",
        "Content-Transfer-Encoding: 8bit\r\n\r\n",
        _text(rng, 600),
    ]
    chunks = [b"".join(out_part.encode() for out_part in out)]
    for i in range(parts):
        payload = rng.randbytes(size * 3 // 4 // parts)
        encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
        chunks.append(
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f'Content-Disposition: attachment; filename="Anhang-{i} é.bin"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n".encode()
        )
        chunks.append(encoded)
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks)


# -- what a destination must hold --------------------------------------------------------


def header_block(raw: bytes) -> bytes:
    """The header as an IMAP server serves BODY[HEADER]: CRLF, up to the blank line."""
    crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    end = crlf.find(b"\r\n\r\n")
    return crlf if end < 0 else crlf[: end + 4]


def key_of(raw: bytes) -> MessageKey:
    """The key the import computes from the server: the size counts CRLF line ends."""
    crlf_size = len(raw.replace(b"\r\n", b"\n")) + raw.replace(b"\r\n", b"\n").count(
        b"\n"
    )
    return message_key(header_block(raw), crlf_size)


Attributes = tuple[MessageKey, frozenset[str], datetime]


def expected_multiset(corpus: Corpus) -> dict[Path, Counter[MessageKey]]:
    """Per selectable folder (empty ones included), how many times each key occurs."""
    return {
        f.path: Counter(key_of(m.raw) for m in f)
        for f in corpus.folders
        if not f.container
    }


def expected_attributes(corpus: Corpus) -> dict[Path, Counter[Attributes]]:
    """As ``expected_multiset``, with each message's flags and internal date."""
    return {
        f.path: Counter((key_of(m.raw), frozenset(m.flags), m.internal_date) for m in f)
        for f in corpus.folders
        if not f.container
    }
