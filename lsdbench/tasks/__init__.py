"""Stage 1, tasks: task cards (TOML) in; validated, hashed ``Task`` objects with their splits out.

Cards are parsed and checked (``cards``), files fetched through pooch with hash checks (``fetch``),
parsed from their real formats (``formats``), joined into pairs and carved into splits.
"""

from lsdbench import lazy_exports

_EXPORTS = {
    "get_card": "lsdbench.tasks.registry",
    "list_cards": "lsdbench.tasks.registry",
    "load_task": "lsdbench.tasks.registry",
    "CardError": "lsdbench.tasks.cards",
    "TaskCard": "lsdbench.tasks.cards",
    "load_card": "lsdbench.tasks.cards",
    "parse_card": "lsdbench.tasks.cards",
    "FetchError": "lsdbench.tasks.fetch",
    "FormatError": "lsdbench.tasks.formats",
    "ALPHABET": "lsdbench.tasks.sequences",
    "CANONICAL": "lsdbench.tasks.sequences",
    "SequenceError": "lsdbench.tasks.sequences",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
