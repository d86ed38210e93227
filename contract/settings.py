"""The base of every command's settings class: environment conventions shared by all commands.

Besides options and environment variables (pydantic-settings), a setting comes from
``<VAR>_FILE`` when it is a secret (:mod:`contract.secret_files`) and from its old name when
it was renamed (:mod:`contract.renamed`). Precedence: options given, ``<VAR>``, an old name,
``<VAR>_FILE``, the default.
"""

from typing import ClassVar

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from contract.renamed import RenamedVariablesSource
from contract.secret_files import SecretFilesSource


class HosierySettings(BaseSettings):
    """Settings with ``<VAR>_FILE`` secrets and deprecated old variable names."""

    renamed_variables: ClassVar[dict[str, str]] = {}
    """Old environment variable -> the field it now sets (deprecated; warns once)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            RenamedVariablesSource(settings_cls, cls.renamed_variables),
            SecretFilesSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )
