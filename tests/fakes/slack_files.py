"""The fake Slack's DMs and file uploads (``files.uploadV2``), mixed into ``FakeSlack``.

``conversations.open`` (``users=U1``) gives the DM channel ``D<user>``; ``files.uploadV2``
is three steps in slack-sdk: ``files.getUploadURLExternal`` (``filename``, ``length``) returns an
``upload_url`` on this server, the bytes are POSTed there, and
``files.completeUploadExternal`` (``files=[{id, title}]``, ``channel_id``,
``initial_comment``) shares them. Shared files are in ``shared_files``: filename, title,
channel, comment and the bytes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web


class SlackFiles:
    """``FakeSlack``'s file and DM methods (``port`` and ``changed`` come from it)."""

    port: int
    changed: asyncio.Event

    def init_files(self, app: web.Application) -> None:
        self.uploads: dict[str, dict[str, Any]] = {}
        self.shared_files: list[dict[str, Any]] = []
        app.router.add_post("/upload/{file_id}", self._upload)

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self.uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="unknown upload")
        data = await request.read()
        if len(data) != int(upload["length"]):
            return web.Response(status=400, text="length mismatch")
        upload["data"] = data
        self.changed.set()
        return web.Response(text=f"OK - {len(data)}")

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users") or "")
        if not users or "," in users:
            raise _error("invalid_arguments")
        return {"channel": {"id": f"D{users}"}}

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not str(args.get("length") or "").isdigit():
            raise _error("invalid_arguments")
        file_id = f"F{len(self.uploads) + 1:08d}"
        self.uploads[file_id] = {"filename": args["filename"], "length": args["length"]}
        return {"upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        files = json.loads(files) if isinstance(files, str) else files
        done = []
        for item in files or []:
            upload = self.uploads.get(str(item.get("id")))
            if upload is None or "data" not in upload:
                raise _error("file_not_found")
            shared = {
                **upload,
                "title": item.get("title"),
                "channel": args.get("channel_id"),
                "comment": args.get("initial_comment"),
            }
            self.shared_files.append(shared)
            done.append({"id": item.get("id"), "name": upload["filename"]})
        return {"files": done}


def _error(code: str) -> Exception:
    from tests.fakes.slack_api import SlackError

    return SlackError(code)
