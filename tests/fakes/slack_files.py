"""The fake Slack's DMs and file uploads (``files.uploadV2``), mixed into ``FakeSlack``.

``conversations.open`` (``users=U1``) gives the DM channel ``D<user>``; ``files.uploadV2``
is three steps in slack-sdk: ``files.getUploadURLExternal`` (``filename``, ``length``) returns an
``upload_url`` on this server, the bytes are POSTed there, and
``files.completeUploadExternal`` (``files=[{id, title}]``, ``channel_id``,
``initial_comment``) shares them. Shared files are in ``shared_files``: filename, title,
channel, comment and the bytes.

Files users bring: ``user_file(name, mimetype, data)`` stores a file and returns the ``files``
entry Slack puts on a ``file_share`` message (``url_private`` / ``url_private_download`` on
this server, ``mimetype``, ``size``, ``name``); downloading it needs a bot token as
``Authorization: Bearer`` (and ``files_read_scope``); without one Slack answers with its HTML
sign-in page (200), as the real one does. Downloads are in ``file_downloads`` (path, token).
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
        self.user_files: dict[str, tuple[bytes, str]] = {}
        self.file_downloads: list[tuple[str, str]] = []
        self.files_read_scope = True
        """False: the bot token lacks ``files:read``; downloads get the sign-in page."""
        app.router.add_get("/files-pri/{team_file}/{name}", self._download)

    def user_file(self, name: str, mimetype: str, data: bytes) -> dict[str, Any]:
        """A file a user attaches; put the result in the message event's ``files``."""
        file_id = f"F{len(self.user_files) + 1:04d}USER"
        path = f"/files-pri/T0TEAM-{file_id}/{name}"
        self.user_files[path] = (data, mimetype)
        url = f"http://127.0.0.1:{self.port}{path}"
        return {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rpartition(".")[2],
            "size": len(data),
            "mode": "hosted",
            "url_private": url,
            "url_private_download": f"{url}?download=1",
        }

    async def _download(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        self.file_downloads.append((request.path, token))
        found = self.user_files.get(request.path)
        if not self._file_token_ok(token):
            return web.Response(text=SIGN_IN_PAGE, content_type="text/html")
        if found is None:
            return web.Response(status=404, text="file not found")
        return web.Response(body=found[0], content_type=found[1])

    def _file_token_ok(self, token: str) -> bool:
        installs: dict[str, Any] = getattr(self, "installs", {})
        if not self.files_read_scope:
            return False
        return bool(token) and (token == getattr(self, "bot_token", None) or token in installs)

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


SIGN_IN_PAGE = "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"


def _error(code: str) -> Exception:
    from tests.fakes.slack_api import SlackError

    return SlackError(code)
