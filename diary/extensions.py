"""Extensions, created unbound and initialised in the application factory."""

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Named constraints so Alembic migrations are deterministic on every dialect.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)


from diary.converters import IdConverter, id_parameter_schema  # noqa: E402
from diary.errors import DiaryApi  # noqa: E402

api = DiaryApi()
# Documented once here; every app built by the factory registers the converter on its URL map.
api.register_converter(IdConverter, id_parameter_schema)
