"""The contact lifecycle shared by every channel (open -> run -> status -> close)."""

from hotline.contacts.ending import STATUS_OF, ContactRun, Ending, EndReason
from hotline.contacts.lifecycle import ContactLifecycle, ContactNotOpen

__all__ = [
    "STATUS_OF",
    "ContactLifecycle",
    "ContactNotOpen",
    "ContactRun",
    "EndReason",
    "Ending",
]
