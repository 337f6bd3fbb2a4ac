"""SQLAlchemy's asyncio extension over pymysqlpool.aio: the dialect
``mysql+mysqlpool_async`` (SQLAlchemy's aiomysql dialect with our aio module
as its aiomysql), Core and ORM against the real server."""

import asyncio
import itertools

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.dialects import registry
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload

pytestmark = pytest.mark.fixed_in_mysqlpool  # pymysql-pool 0.5.0 has no asyncio API

# The installed package declares it as an entry point; a source checkout registers it by hand.
registry.register("mysql.mysqlpool_async", "pymysqlpool.sqlalchemy", "MySQLDialect_mysqlpool_async")

_names = itertools.count(1)


def engine_for(server, **kwargs):
    url = URL.create("mysql+mysqlpool_async", username=server["user"] or None,
                     password=server["password"] or None, host=server["host"], port=server["port"],
                     database=server["database"] or None)
    return create_async_engine(url, **kwargs)


def test_core(server):
    table_name = f"sa_async_core_{next(_names)}"

    async def main():
        engine = engine_for(server, pool_size=3)
        metadata = MetaData()
        items = Table(table_name, metadata, Column("id", Integer, primary_key=True),
                      Column("name", String(50, collation="utf8mb4_bin")), mysql_charset="utf8mb4")
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
                await conn.execute(items.insert(), [{"id": 1, "name": "ü"}, {"id": 2, "name": "two"}])
            async with engine.connect() as conn:
                rows = (await conn.execute(select(items).order_by(items.c.id))).all()
                assert [tuple(row) for row in rows] == [(1, "ü"), (2, "two")]
                assert (await conn.execute(text("SELECT :a + :b"), {"a": 20, "b": 22})).scalar() == 42
                result = await conn.execute(items.update().where(items.c.id == 2).values(name="TWO"))
                assert result.rowcount == 1
                await conn.rollback()
                assert (await conn.execute(select(items.c.name).where(items.c.id == 2))).scalar() == "two"
                assert engine.dialect.driver == "mysqlpool_async"
        finally:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.drop_all)
            await engine.dispose()

    asyncio.run(main())


def test_orm(server):
    suffix = next(_names)

    class Base(DeclarativeBase):
        pass

    class Author(Base):
        __tablename__ = f"sa_async_author_{suffix}"
        __table_args__ = {"mysql_charset": "utf8mb4"}
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
        books: Mapped[list["Book"]] = relationship(back_populates="author")

    class Book(Base):
        __tablename__ = f"sa_async_book_{suffix}"
        __table_args__ = {"mysql_charset": "utf8mb4"}
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str] = mapped_column(String(50))
        author_id: Mapped[int] = mapped_column(ForeignKey(f"{Author.__tablename__}.id"))
        author: Mapped[Author] = relationship(back_populates="books")

    async def main():
        engine = engine_for(server)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            sessions = async_sessionmaker(engine, expire_on_commit=False)
            async with sessions() as session:
                session.add(Author(name="Ada", books=[Book(title="Notes"), Book(title="Letters")]))
                await session.commit()
            async with sessions() as session:
                author = (await session.execute(
                    select(Author).options(selectinload(Author.books)).where(Author.name == "Ada"))).scalar_one()
                assert sorted(book.title for book in author.books) == ["Letters", "Notes"]
                assert (await session.execute(select(func.count()).select_from(Book))).scalar() == 2
            # Concurrent sessions on the engine's pool.
            async def count():
                async with AsyncSession(engine) as session:
                    return (await session.execute(select(func.count()).select_from(Author))).scalar()

            assert await asyncio.gather(*(count() for _ in range(20))) == [1] * 20
        finally:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.drop_all)
            await engine.dispose()

    asyncio.run(main())
