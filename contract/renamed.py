"""Environment variables that were renamed: the old name still works, with one warning.

A settings class lists its old names in ``renamed_variables`` (old variable -> field name). The
old name's value is used when the new one is not set; either way each old name found gives one
:class:`RenamedVariableWarning`, which the command prints as one line on stderr.
"""

import os
import warnings
from collections.abc import Mapping
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource


class RenamedVariableWarning(FutureWarning):
    """An old, deprecated environment variable is set; the message names its new name."""


class RenamedVariablesSource(PydanticBaseSettingsSource):
    """A settings source: each field from its old variable, when that is set."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        renamed: Mapping[str, str],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(settings_cls)
        self._renamed = renamed
        self._environ = os.environ if environ is None else environ

    def get_field_value(
        self,
        field: FieldInfo,  # noqa: ARG002 - the abstract method's signature
        field_name: str,
    ) -> tuple[Any, str, bool]:
        return None, field_name, False  # all the work is in __call__

    def __call__(self) -> dict[str, Any]:
        prefix = self.settings_cls.model_config.get("env_prefix", "")
        upper = {key.upper(): value for key, value in self._environ.items()}
        values: dict[str, Any] = {}
        for old, name in self._renamed.items():
            if old not in upper:
                continue
            field = self.settings_cls.model_fields[name]
            alias = field.validation_alias
            new = alias.upper() if isinstance(alias, str) else f"{prefix}{name}".upper()
            warnings.warn(
                f"{old} is deprecated and will be removed: use {new}",
                RenamedVariableWarning,
                stacklevel=2,
            )
            values[name] = upper[old]
        return values
