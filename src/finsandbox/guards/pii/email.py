"""Email addresses (RFC 5322 simplified): local part, domain labels, alphabetic top-level domain."""

from __future__ import annotations

import re

from finsandbox.guards.pii.recognizer import Pattern, Recognizer, recogniser


@recogniser("EMAIL")
class EmailRecognizer(Recognizer):
    entity_type = "EMAIL"
    precedence = 80
    requires = "@"
    patterns = (
        Pattern(
            "email",
            r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?@"
            r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])",
            0.65,
        ),
    )
    context = ("email", "e-mail", "mail", "contact", "電郵")

    def validate(self, value: str) -> bool:
        return ".." not in value and re.search(r"\.[A-Za-z]{2,24}$", value) is not None
