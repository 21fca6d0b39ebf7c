"""``python -m console``: the staff console's process.

Before listening it checks its settings (``CONSOLE_*`` in clinic/settings.py) and refuses to
start, naming the variable, when one is wrong or when it would serve passwords in plain HTTP
to the network. Before listening it opens the clinic's database (``BOOKINGS_DB_URL``) and
creates the account and console tables if missing; it closes it at stop. The inbox reads the
conversation store (``TRACKER_DB_URL``, else endpoints.yml's), the topics pages change the topic
files of ``CONSOLE_DATA_DIR`` (the project's ``data/`` unless told otherwise), the Clinic page the
clinic.yml the servers read (``CLINIC_PROFILE``, else the project's). Publish replaces
``CONSOLE_MODEL`` (models/clinic-assistant.tar.gz unless told otherwise), which the Rasa servers
fetch with ``MODEL_SERVER_TOKEN``; with that token set, the publisher starts with the console.

Options: ``--host`` (default ``CONSOLE_HOST`` or 127.0.0.1) and ``--port`` (default
``CONSOLE_PORT`` or 5056).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

from sqlalchemy.exc import SQLAlchemyError

from clinic import clock, settings
from clinic.booking_store import BookingStore, BookingStoreError
from clinic.console_records import ConsoleRecords
from clinic.staff_accounts import SessionPolicy, StaffAccounts
from clinic.topic_files import TopicFiles
from console.app import ConsoleConfig, build_app
from console.publishing import PublisherStopped, record_baseline

logger = logging.getLogger("console.server")


def configure_logging() -> None:
    """INFO to stderr, without Sanic's access log (addresses and paths of staff, kept in the audit log instead)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("sanic.access").setLevel(logging.WARNING)


def clinic_name() -> str:
    """The clinic's name for the page titles; the console runs without a readable clinic.yml too."""
    from clinic.profile import ClinicProfileError, current_profile

    try:
        return current_profile().name
    except ClinicProfileError:
        return "the clinic"


def read_config() -> ConsoleConfig:
    """The console's settings.

    Raises:
        settings.SettingsError: naming the variable.
    """
    idle, lifetime = settings.console_session_times()
    return ConsoleConfig(
        policy=SessionPolicy(idle=idle, lifetime=lifetime),
        secure_cookies=settings.console_secure_cookies(),
        clinic_name=clinic_name(),
        data_dir=settings.console_data_dir(),
        tracker_db_url=settings.tracker_db_url(),
        model_path=settings.console_model_path(),
        model_server_token=settings.model_server_token(),
        profile_path=settings.clinic_profile_path(),
    )


async def start_publisher(app) -> None:
    try:
        await app.ctx.publisher.start()
        logger.info("publisher ready")
    except (PublisherStopped, OSError) as error:
        logger.error("the publisher did not start (%s); Publish will try again", error)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    os.umask(0o077)  # a database file it creates: readable by this user alone
    configure_logging()
    try:
        config = read_config()
        host = args.host or settings.console_host()
        port = args.port or settings.console_port()
        settings.check_console_exposure(host, config.secure_cookies)
    except settings.SettingsError as error:
        print(f"The staff console cannot start: {error}", file=sys.stderr)
        return 2

    store = BookingStore(settings.bookings_db_url())
    try:
        accounts = StaffAccounts(store.open().engine).create_tables()
        records = ConsoleRecords(accounts.engine).create_tables()
    except (BookingStoreError, SQLAlchemyError) as error:
        print(f"The staff console cannot start: {error}", file=sys.stderr)
        return 2
    if accounts.count_admins() == 0:
        logger.warning(
            "no console user is an admin yet: nobody can manage users or erase visitors in the console "
            "until one is made with `python -m actions.staff set-role NAME admin` (or add-user NAME --role admin)"
        )
    # Opened here rather than at server start so a bad database stops the process with a message
    # before it listens; Sanic's single worker runs in this same process.
    app = build_app(accounts, config, records=records)

    records.interrupt_running(clock.now())
    record_baseline(records, TopicFiles(config.data_dir), clock.now())

    @app.listener("after_server_start")
    async def warm_publisher(app, loop):  # Sanic passes both
        # The Rasa servers follow this console's model: have Publish ready before it is pressed.
        if config.model_server_token:
            app.add_task(start_publisher(app))

    @app.listener("after_server_stop")
    async def close_databases(app, loop):  # Sanic passes both
        await app.ctx.publisher.stop()
        if app.ctx.conversations is not None:
            app.ctx.conversations.dispose()
        store.close()

    logger.info("staff console listening on http://%s:%s", host, port)
    app.run(host=host, port=port, workers=1, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
