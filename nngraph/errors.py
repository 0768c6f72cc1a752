"""One exception family for every stage, each also the matching builtin.

Every error that concerns the user's text carries a `Span`, so the CLI can print
`path:line:col: error: message`, the offending line, a caret and a hint.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns count from 1."""

    path: str
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass
class Diagnostic:
    """One message about the user's input, positioned where possible."""

    message: str
    span: Span | None = None
    hint: str | None = None
    severity: str = "error"
    notes: list[str] = field(default_factory=list)


class NngraphError(Exception):
    """Base of every error nngraph raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [Diagnostic(self.message, self.span, self.hint)]

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"


class SourceError(NngraphError, ValueError):
    """The input could not be read as a spec at all (missing, binary, too large...)."""


class SpecSyntaxError(NngraphError, SyntaxError):
    """The text does not follow the grammar."""

    def __str__(self) -> str:  # SyntaxError would otherwise print only its args
        return NngraphError.__str__(self)


class ValidationError(NngraphError, ValueError):
    """The spec parses but describes an invalid network or training run."""


class ShapeError(ValidationError):
    """Shapes that cannot be inferred or do not fit together."""


class BuildError(NngraphError, RuntimeError):
    """The checked graph could not be lowered to a program."""


class BackendError(NngraphError, RuntimeError):
    """A backend was asked for and cannot be used (cupy missing, no GPU...)."""


class DataError(NngraphError, ValueError):
    """A data set could not be loaded or does not fit the model."""


class OutputError(NngraphError, OSError):
    """A result could not be written (a missing folder, no permission, a full disk)."""


class TrainingError(NngraphError, RuntimeError):
    """Training had to stop (a NaN loss, a checkpoint of another spec...)."""


class ErrorList(NngraphError, ValueError):
    """Several independent errors found in one pass, reported together."""

    def __init__(self, errors: list[NngraphError], warnings: list[Diagnostic] | None = None, cut: int = 0):
        first = errors[0]
        super().__init__(first.message, first.span, first.hint)
        self.errors = errors
        self.warnings = warnings or []
        self.cut = cut  # errors found beyond the Collector's cap, counted but not kept

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [d for e in self.errors for d in e.diagnostics]

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def unimportable(error: ImportError, module: str) -> str:
    """How a message ends when `import module` failed: "which is not installed" when the module itself is
    missing, else what the import said (a broken install, a missing shared library): "not installed" would send
    the user to install what is there."""
    missing = isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] == module
    return "which is not installed" if missing else f"which is installed but could not be imported ({error})"


def lookalikes(name: str) -> str | None:
    """A hint naming the characters of a name that are not ASCII, for a file that is not there: a Cyrillic `о`
    looks like `o`."""
    import unicodedata

    odd = [f"'{c}' ({unicodedata.name(c, f'U+{ord(c):04X}')}) at {i + 1}" for i, c in enumerate(name) if ord(c) > 127]
    if not odd:
        return None
    return "the name holds characters that are not ASCII, which may look like others: " + ", ".join(odd[:3])


def did_you_mean(word: str, choices) -> str | None:
    """A hint naming the closest valid choice, or listing them when none is close."""
    import difflib

    choices = sorted(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if not choices:
        return "there are none to choose from"
    if len(choices) <= 12:
        return "expected one of: " + ", ".join(choices)
    return None


def plural(count: int, noun: str) -> str:
    """`1 unit`, `2 units`, `12,345 parameters`: a count and its noun, as every message writes them."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


class Collector:
    """Gathers independent errors so one run reports several, as compilers do (capped)."""

    def __init__(self, cap: int = 20):
        self.cap = cap
        self.errors: list[NngraphError] = []
        self.warnings: list[Diagnostic] = []
        self.cut = 0  # errors past the cap: counted, so the report can say how many it leaves out
        self._seen: set[tuple] = set()  # (message, span) of every error added, kept or cut

    def error(self, message, span=None, hint=None, kind=None) -> None:
        self.add((kind or ValidationError)(message, span, hint))

    def add(self, err: NngraphError) -> None:
        if isinstance(err, ErrorList):
            for e in err.errors:
                self.add(e)
            self.cut += err.cut
        elif (err.message, err.span) not in self._seen:  # once at one place is enough (a name used twice)
            self._seen.add((err.message, err.span))
            if len(self.errors) < self.cap:
                self.errors.append(err)
            else:
                self.cut += 1

    def warn(self, message, span=None, hint=None) -> None:
        self.warnings.append(Diagnostic(message, span, hint, severity="warning"))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ErrorList(list(self.errors), list(self.warnings), self.cut)
