"""Secrets read from files: ``<VAR>_FILE`` names a file holding the value of ``<VAR>``.

This is the Docker secrets convention (``HOSIERY_INFLUX_PASSWORD_FILE=/run/secrets/influx``):
the file's content, one trailing newline removed, is the secret. It applies to every secret
setting (a ``SecretStr`` field) of a settings class built on
:class:`contract.settings.HosierySettings`.
Setting both ``<VAR>`` and ``<VAR>_FILE`` is an error, as is a file that cannot be read or is
empty; the error is :class:`SecretFileError`, one line naming the variable and the file.
"""

import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsError,
)


class SecretFileError(SettingsError):
    """A ``<VAR>_FILE`` secret cannot be used: unreadable, empty, or given twice."""


def read_secret_file(variable: str, path: str) -> str:
    """The secret in the file ``path`` named by ``variable``, one trailing newline removed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SecretFileError(f"{variable}={path}: cannot read the file: {reason}") from None
    except UnicodeDecodeError:
        raise SecretFileError(f"{variable}={path}: the file is not UTF-8 text") from None
    secret = text.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise SecretFileError(f"{variable}={path}: the file is empty")
    return secret


def _is_secret(annotation: object) -> bool:
    if annotation is SecretStr:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType or origin is typing.Annotated:
        return any(_is_secret(arg) for arg in typing.get_args(annotation))
    return False


def _variable(prefix: str, name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias.upper()
    return f"{prefix}{name}".upper()


def secret_variables(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """Field name -> the environment variable of each secret setting of ``settings_cls``."""
    prefix = settings_cls.model_config.get("env_prefix", "")
    return {
        name: _variable(prefix, name, field)
        for name, field in settings_cls.model_fields.items()
        if _is_secret(field.annotation)
    }


class SecretFilesSource(PydanticBaseSettingsSource):
    """A settings source: each secret setting from the file named by its ``<VAR>_FILE``."""

    def __init__(
        self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(settings_cls)
        self._environ = os.environ if environ is None else environ

    def get_field_value(
        self,
        field: FieldInfo,  # noqa: ARG002 - the abstract method's signature
        field_name: str,
    ) -> tuple[Any, str, bool]:
        return None, field_name, False  # all the work is in __call__

    def __call__(self) -> dict[str, Any]:
        upper = {key.upper(): value for key, value in self._environ.items()}
        values: dict[str, Any] = {}
        for name, variable in secret_variables(self.settings_cls).items():
            file_variable = f"{variable}_FILE"
            path = upper.get(file_variable)
            if path is None:
                continue
            if variable in upper:
                raise SecretFileError(f"set {variable} or {file_variable}, not both")
            values[name] = read_secret_file(file_variable, path)
        return values
