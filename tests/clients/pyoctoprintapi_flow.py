"""pyoctoprintapi (PyPI), the library of Home Assistant's OctoPrint
integration, through every call it has, used as Home Assistant uses it,
against a running Plinth (or, to check this script, a real OctoPrint).

Usage: pyoctoprintapi_flow.py <url> <api key> [<admin user> <password>]

The API key must be an administrator's. With an administrator's name and
password, the application key request is approved as OctoPrint's web page
does it: a password login, the push channel's `request_access` message, the
`pending` list of `GET /api/plugin/appkeys`, and `POST
/plugin/appkeys/decision/<user_token>` with the CSRF token. Without them,
the API key's user approves the same way, logged in passively with the key.

Every step is checked; a failed check is printed and the run goes on where
it can (so one run shows every divergence), then exits 1. Only when every
check passed is "every operation went as against OctoPrint" printed.

Home Assistant's order: config flow (probe, app key request, discovery
settings for the unique id), set-up (job and printer every 30 s, webcam
settings), the temperature numbers, the connect service, the pause /
resume / stop buttons, and the shutdown / reboot / restart buttons.
"""
import asyncio
import io
import json
import re
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import aiohttp
from pyoctoprintapi import (
    ApiError,
    OctoprintClient,
    OctoprintException,
    PrinterOffline,
)
from pyoctoprintapi.exceptions import UnauthorizedException

url = sys.argv[1].rstrip("/")
key = sys.argv[2]
admin = sys.argv[3] if len(sys.argv) > 4 else None
password = sys.argv[4] if len(sys.argv) > 4 else None

parts = urlsplit(url)
HOST, PORT = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
SSL = parts.scheme == "https"
PATH = (parts.path or "") + "/"

failures = []


def check(what, ok, detail=""):
    """Records one check; a failure is printed at once and the run goes on."""
    if ok:
        print(f"  ok   {what}")
    else:
        failures.append(f"{what}: {detail}")
        print(f"  FAIL {what}: {detail}")
    return ok


async def expect_raise(what, coro, exc_type):
    try:
        await coro
    except exc_type as e:
        return check(what, True)
    except Exception as e:  # noqa: BLE001
        return check(what, False, f"raised {type(e).__name__}: {e}")
    return check(what, False, "did not raise")


async def call(what, coro):
    """Awaits a library call; an exception is a failed check (None back)."""
    try:
        result = await coro
    except Exception as e:  # noqa: BLE001
        check(what, False, f"{type(e).__name__}: {e}")
        return None
    check(what, True)
    return result


async def wait(what, probe, timeout=30):
    """Waits for `probe()` (a coroutine function) to answer something true."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            value = await probe()
            if value:
                return check(what, True)
            last = value
        except Exception as e:  # noqa: BLE001
            last = f"{type(e).__name__}: {e}"
        await asyncio.sleep(0.2)
    return check(what, False, f"timed out; last: {last!r}")


def new_client(session, api_key=None):
    client = OctoprintClient(HOST, session, PORT, SSL, PATH)
    if api_key:
        client.set_api_key(api_key)
    return client


# --- the web page of a logged-in administrator ------------------------------


class Page:
    """What OctoPrint's web page does to approve an application key."""

    def __init__(self, raw):
        self.raw = raw  # a session with a cookie jar (the browser)
        self.messages = []
        self.arrived = asyncio.Condition()
        self.headers = {}
        self.user = None
        self.socket = None
        self.reader = None

    def csrf(self):
        for cookie in self.raw.cookie_jar:
            if "csrf" in cookie.key.lower():
                return cookie.value
        return None

    def _headers(self):
        headers = dict(self.headers)
        token = self.csrf()
        if token and "X-Api-Key" not in headers:
            headers["X-CSRF-Token"] = token
        return headers

    async def login(self):
        if admin:
            # Load the page (which sets the CSRF cookie), then log in.
            async with self.raw.get(url + "/") as r:
                await r.read()
            body = {"user": admin, "pass": password, "remember": False}
        else:
            self.headers = {"X-Api-Key": key}
            body = {"passive": True}
        async with self.raw.post(url + "/api/login", json=body, headers=self._headers()) as r:
            check("the page logs in (POST /api/login)", r.status == 200, f"{r.status} {await r.text()}")
            user = await r.json(content_type=None)
        self.user = user.get("name")
        check("the login answers the session for the push channel", bool(user.get("session")), user)
        # The push channel (SockJS's raw WebSocket), authenticated by message.
        self.socket = await self.raw.ws_connect(url.replace("http", "ws", 1) + "/sockjs/websocket")
        await self.socket.send_str(json.dumps({"auth": f"{self.user}:{user.get('session')}"}))
        self.reader = asyncio.create_task(self._read())
        connected = await self.next_message(lambda m: "connected" in m, 10)
        check("the push channel says connected", connected is not None, self.messages[-3:])

    async def _read(self):
        async for message in self.socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            async with self.arrived:
                self.messages.append(data)
                self.arrived.notify_all()

    async def next_message(self, match, timeout, start=0):
        """The first message from index `start` on for which `match` holds."""
        deadline = time.time() + timeout
        async with self.arrived:
            while True:
                for m in self.messages[start:]:
                    if match(m):
                        return m
                left = deadline - time.time()
                if left <= 0:
                    return None
                try:
                    await asyncio.wait_for(self.arrived.wait(), left)
                except asyncio.TimeoutError:
                    return None

    async def approve(self, app_name, decision, start):
        """Finds the request of `app_name` as the page does and decides it."""

        def appkeys(m):
            return (m.get("plugin") or {}).get("plugin") == "appkeys"

        # OctoPrint's page reacts to {"type": "request_access", "app_name",
        # "user_token", "user_id", "remote_address"} (appkeys.js).
        strict = await self.next_message(
            lambda m: appkeys(m)
            and m["plugin"]["data"].get("type") == "request_access"
            and m["plugin"]["data"].get("app_name") == app_name,
            10,
            start,
        )
        data = strict["plugin"]["data"] if strict else None
        if not check(
            f"push: appkeys message type request_access for {app_name!r}",
            strict is not None,
            f"got {[m['plugin']['data'] for m in self.messages[start:] if appkeys(m)]}",
        ):
            # Go on with whatever carries the token, to test the rest.
            loose = await self.next_message(
                lambda m: appkeys(m) and m["plugin"]["data"].get("app_name") == app_name,
                1,
                start,
            )
            if loose is None:
                return None
            data = loose["plugin"]["data"]
        else:
            check("push: request_access names the user (user_id) and remote_address",
                  data.get("user_id") == self.user and "remote_address" in data, data)
        token = data.get("user_token")
        # What the page reads on login: GET /api/plugin/appkeys, whose
        # `pending` maps each user token to the request (appkeys.js).
        async with self.raw.get(url + "/api/plugin/appkeys", headers=self._headers()) as r:
            listing = await r.json(content_type=None)
        pending = listing.get("pending")
        check(
            "GET /api/plugin/appkeys: pending maps the user token to the request",
            isinstance(pending, dict) and (pending.get(token) or {}).get("app_id") == app_name,
            pending,
        )
        async with self.raw.post(
            url + f"/plugin/appkeys/decision/{token}",
            json={"decision": decision},
            headers=self._headers(),
        ) as r:
            check(f"the page decides {decision} (POST /plugin/appkeys/decision)", r.status == 204,
                  f"{r.status} {await r.text()}")
        end = await self.next_message(
            lambda m: appkeys(m)
            and m["plugin"]["data"].get("type") == "end_request"
            and m["plugin"]["data"].get("user_token") == token,
            5,
            start,
        )
        check("push: end_request for the decided token", end is not None)
        return token

    async def close(self):
        if self.socket is not None:
            await self.socket.close()
        if self.reader is not None:
            self.reader.cancel()


# --- the flow -----------------------------------------------------------------


async def app_key_flow(session, page):
    print("config flow: application key")
    client = new_client(session)
    check("check_appkeys_enabled (GET /plugin/appkeys/probe, no key)",
          await client._api.check_appkeys_enabled() is True)

    # What the library reads while waiting (it logs a "message").
    polls = []
    original = client._api.appkeys_check_status

    async def recording(token):
        body = await original(token)
        polls.append(body)
        return body

    client._api.appkeys_check_status = recording

    start = len(page.messages)
    asking = asyncio.create_task(client.request_app_key("Home Assistant", page.user, 20))
    token = await page.approve("Home Assistant", True, start)
    new_key = None
    try:
        new_key = await asyncio.wait_for(asking, 30)
    except Exception as e:  # noqa: BLE001
        check("request_app_key answers the approved key", False, f"{type(e).__name__}: {e}")
    else:
        check("request_app_key answers the approved key", isinstance(new_key, str) and len(new_key) >= 16, new_key)
    waiting = [p for p in polls if "api_key" not in p]
    check("while undecided, the poll says why (OctoPrint: {\"message\": \"Awaiting decision\"})",
          not waiting or all(isinstance(p.get("message"), str) for p in waiting), waiting[:2])

    # A denied request ends the library's wait with ApiError.
    start = len(page.messages)
    denied = asyncio.create_task(client.request_app_key("Home Assistant (denied)", page.user, 20))
    await page.approve("Home Assistant (denied)", False, start)
    await expect_raise("request_app_key of a denied request raises ApiError",
                       asyncio.wait_for(denied, 30), ApiError)
    return new_key, token


async def main():
    connector = aiohttp.TCPConnector(force_close=True)  # as the config flow
    async with aiohttp.ClientSession(connector=connector) as session, aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as raw, aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as plain:
        # `raw`: the administrator's browser; `plain`: other API key clients.
        page = Page(raw)
        await page.login()
        try:
            new_key, _ = await app_key_flow(session, page)
        finally:
            await page.close()
        if not new_key:
            new_key = key  # go on with the given key to test the rest

        # The key works, and is the approving user's.
        async with plain.get(url + "/api/currentuser", headers={"X-Api-Key": new_key}) as r:
            me = await r.json(content_type=None)
        check("the application key authenticates as the approving user", me.get("name") == page.user, me)

        client = new_client(session, new_key)

        print("config flow: unique id")
        discovery = await call("get_discovery_info", client.get_discovery_info())
        check("discovery settings present (HA's unique id is their upnpUuid)", discovery is not None, discovery)
        upnp_uuid = discovery.upnp_uuid if discovery else None
        check("discovery upnp_uuid is a UUID",
              isinstance(upnp_uuid, str) and re.fullmatch(r"[0-9a-f-]{36}", upnp_uuid or "") is not None, upnp_uuid)
        if discovery is not None:
            for name in ("http_username", "http_password", "public_host", "public_port"):
                getattr(discovery, name)  # read as HA would; .get() cannot fail
        # HA's SSDP discovery reads this device description (UDN, presentationURL).
        async with plain.get(url + "/plugin/discovery/discovery.xml") as r:
            text = await r.text()
            status = r.status
        udn = None
        if status == 200:
            try:
                ns = {"u": "urn:schemas-upnp-org:device-1-0"}
                root = ET.fromstring(text)
                udn = root.findtext("u:device/u:UDN", namespaces=ns)
                check("discovery.xml names the manufacturer HA's SSDP matcher looks for",
                      root.findtext("u:device/u:manufacturer", namespaces=ns) == "The OctoPrint Project", text[:300])
            except ET.ParseError as e:
                check("discovery.xml parses", False, str(e))
        check("GET /plugin/discovery/discovery.xml answers UDN uuid:<upnpUuid>",
              status == 200 and udn == f"uuid:{upnp_uuid}", f"{status} {text[:200]!r}")

        # OctoPrint's anonymous usage tracking is an opt-in plugin; Plinth
        # has none and sends no usage data, so `None` (no tracking
        # settings) is a right answer. Home Assistant does not call this.
        tracking = await call("get_tracking_info", client.get_tracking_info())
        if tracking is not None:
            try:
                check("tracking enabled is true, false or null", tracking.enabled in (True, False, None), tracking.enabled)
                check("tracking unique_id is text or null", tracking.unique_id is None or isinstance(tracking.unique_id, str),
                      tracking.unique_id)
            except KeyError as e:
                check("tracking settings have enabled and unique_id", False, f"KeyError {e}")

        print("server")
        server = await call("get_server_info", client.get_server_info())
        async with plain.get(url + "/api/version", headers={"X-Api-Key": new_key}) as r:
            version = await r.json(content_type=None)
        if server is not None:
            check("server version is the OctoPrint release /api/version names",
                  server.version == version.get("server"), f"/api/server {server.version!r}, /api/version {version.get('server')!r}")
            check("not in safe mode", server.safe_mode in (None, False, ""), server.safe_mode)

        print("set-up: webcam")
        webcam = await call("get_webcam_info", client.get_webcam_info())
        if check("webcam settings present", webcam is not None, webcam):
            check("webcam enabled is true or false", webcam.enabled in (True, False), webcam.enabled)
            # OctoPrint always sends these (null without a default webcam).
            for name in ("bitrate", "flip_horizontal", "flip_vertical", "rotate_90",
                         "snapshot_ssl_validation_enabled", "internal_snapshot_url"):
                try:
                    getattr(webcam, name)
                    check(f"webcam {name}", True)
                except KeyError as e:
                    check(f"webcam {name}", False, f"KeyError {e} (OctoPrint sends it, null if unset)")
            if webcam.enabled:
                try:
                    stream = webcam.stream_url
                    snapshot = webcam.external_snapshot_url
                    check("webcam stream_url and external_snapshot_url (HA's camera)",
                          isinstance(stream, str) and isinstance(snapshot, str), (stream, snapshot))
                except (KeyError, AttributeError) as e:
                    check("webcam stream_url and external_snapshot_url (HA's camera)", False, f"{type(e).__name__} {e}")

        print("coordinator, printer offline")
        job = await call("get_job_info (offline)", client.get_job_info())
        if job is not None:
            check("job state Offline", job.state == "Offline", job.state)
            check("no file selected", job.job.file.name is None, job.job.file.name)
            check("no completion", job.progress.completion is None, job.progress.completion)
        await expect_raise("get_printer_info raises PrinterOffline (409)", client.get_printer_info(), PrinterOffline)
        connection = await call("get_connection_info", client._api.get_connection_info())
        if connection is not None:
            check("connection options list VIRTUAL", "VIRTUAL" in connection["options"]["ports"], connection["options"])
        await expect_raise("pause_job with no job raises ApiError (409)", client.pause_job(), ApiError)
        await expect_raise("set_tool_temperature offline raises ApiError (409)",
                           client.set_tool_temperature("tool0", 10), ApiError)

        bad = new_client(session, "not-a-key")
        await expect_raise("get_job_info with a wrong key raises UnauthorizedException (403)",
                           bad.get_job_info(), UnauthorizedException)
        await expect_raise("get_printer_info with a wrong key raises UnauthorizedException (403)",
                           bad.get_printer_info(), UnauthorizedException)

        print("connect service")
        await call("connect(port, baud_rate)", client.connect(port="VIRTUAL", baud_rate=115200))

        async def printer():
            return await client.get_printer_info()

        async def operational():
            p = await printer()
            return p.state.text == "Operational" and p.state.flags.operational and p.state.flags.ready

        await wait("printer Operational (state text and flags)", operational)
        await wait("temperatures of tool0 and bed", lambda: _has_temps(client))
        info = await call("get_printer_info", client.get_printer_info())
        if info is not None:
            check("has_heated_bed", info.has_heated_bed is True, info.has_heated_bed)
            for t in info.temperatures:
                check(f"temperature {t.name}: actual and target are numbers",
                      isinstance(t.actual_temp, (int, float)) and isinstance(t.target_temp, (int, float)),
                      (t.actual_temp, t.target_temp, t.offset))
            for flag in ("cancelling", "closed_or_error", "error", "finishing", "paused", "pausing",
                         "printing", "resuming", "sd_ready"):
                check(f"flag {flag} is a boolean", isinstance(getattr(info.state.flags, flag), bool),
                      getattr(info.state.flags, flag))
        job = await call("get_job_info (operational)", client.get_job_info())
        if job is not None:
            check("job state Operational", job.state == "Operational", job.state)

        print("temperature numbers")

        async def target(name, value):
            p = await printer()
            return any(t.name == name and t.target_temp == value for t in p.temperatures)

        await call("set_tool_temperature(tool0, 45)", client.set_tool_temperature("tool0", 45))
        await wait("tool0 target 45", lambda: target("tool0", 45))
        await call("set_bed_temperature(35) (POST //api/printer/bed)", client.set_bed_temperature(35))
        await wait("bed target 35", lambda: target("bed", 35), timeout=10)
        await call("turn_tool_off(tool0)", client.turn_tool_off("tool0"))
        await wait("tool0 target 0", lambda: target("tool0", 0))
        # A bed target to turn off, whatever set_bed_temperature did.
        async with plain.post(url + "/api/printer/bed", json={"command": "target", "target": 30},
                              headers={"X-Api-Key": new_key}) as r:
            await r.read()
        await wait("bed target 30 (set by POST /api/printer/bed)", lambda: target("bed", 30), timeout=10)
        await call("turn_bed_off (POST //api/printer/bed)", client.turn_bed_off())
        await wait("bed target 0", lambda: target("bed", 0), timeout=10)

        print("a print: pause, resume and stop buttons")
        long_gcode = ("G28\nG90\n" + "G1 X1 Y1 F9000\nG1 X0 Y0 F9000\n" * 300).encode()
        await upload(plain, new_key, "hh_long.gcode", long_gcode)

        async def job_state(state):
            j = await client.get_job_info()
            return j.state == state

        await wait("job Printing", lambda: job_state("Printing"))
        job = await call("get_job_info (printing)", client.get_job_info())
        if job is not None:
            check("job file name", job.job.file.name == "hh_long.gcode", job.job.file.name)
            check("job file origin local", job.job.file.origin == "local", job.job.file.origin)
            check("job file size", job.job.file.size == len(long_gcode), job.job.file.size)
            check("estimated_print_time a number or null", job.job.estimated_print_time is None
                  or isinstance(job.job.estimated_print_time, (int, float)), job.job.estimated_print_time)
            c = job.progress.completion
            check("progress completion within 0..100", isinstance(c, (int, float)) and 0 <= c <= 100, c)
            check("progress print_time a number", isinstance(job.progress.print_time, (int, float)), job.progress.print_time)
            left = job.progress.print_time_left
            check("progress print_time_left a number or null", left is None or isinstance(left, (int, float)), left)
        info = await call("get_printer_info (printing)", client.get_printer_info())
        if info is not None:
            check("printer state Printing, flags.printing", info.state.text == "Printing" and info.state.flags.printing,
                  (info.state.text, info.state.flags._raw))

        async def progressed():
            j = await client.get_job_info()
            return (j.progress.completion or 0) > (c or 0)

        await wait("completion grows", progressed)
        await call("pause_job (Pause Job button)", client.pause_job())

        async def paused():
            p = await printer()
            return p.state.flags.paused and p.state.text == "Paused"

        await wait("printer Paused (flags.paused, text)", paused)
        await wait("job state Paused", lambda: job_state("Paused"))
        await call("resume_job (Resume Job button)", client.resume_job())
        await wait("job Printing again", lambda: job_state("Printing"))
        await call("cancel_job (Stop Job button)", client.cancel_job())
        await wait("job Operational after the stop", lambda: job_state("Operational"))
        await expect_raise("cancel_job with no job raises ApiError (409)", client.cancel_job(), ApiError)

        print("a print to the end")
        short_gcode = ("G90\n" + "G1 X1 Y1 F9000\nG1 X0 Y0 F9000\n" * 20).encode()
        await upload(plain, new_key, "hh_short.gcode", short_gcode)

        async def finished():
            j = await client.get_job_info()
            return j.state == "Operational" and j.job.file.name == "hh_short.gcode" and j.progress.completion == 100

        await wait("job done: Operational, completion 100", finished, timeout=60)

        print("system buttons")
        async with plain.get(url + "/api/system/commands", headers={"X-Api-Key": new_key}) as r:
            commands = await r.json(content_type=None)
        check("GET /api/system/commands lists core commands", isinstance(commands.get("core"), list), commands)
        configured = {c.get("action") for c in commands.get("core") or []}
        for action, method in (("shutdown", client.shutdown), ("reboot", client.reboot_system),
                               ("restart", client.restart)):
            if action in configured:
                print(f"  skip {action}: configured, and would really run")
                continue
            # Not configured: OctoPrint answers 404, the library raises.
            await expect_raise(f"{method.__name__} (not configured) raises ApiError", method(), ApiError)

        print("disconnect")
        await call("disconnect", client.disconnect())
        await wait("printer offline again", lambda: _offline(client))

        print("connect service with every argument")
        await call("connect(port, baud_rate, printer_profile, save, auto_connect)",
                   client.connect(port="VIRTUAL", baud_rate=115200, printer_profile="_default",
                                  save=False, auto_connect=False))
        await wait("printer Operational", operational)
        await call("disconnect", client.disconnect())
        await wait("printer offline again", lambda: _offline(client))

        # Clean up the uploads (not a library call).
        for name in ("hh_long.gcode", "hh_short.gcode"):
            async with plain.delete(url + f"/api/files/local/{name}", headers={"X-Api-Key": new_key}) as r:
                await r.read()


async def _has_temps(client):
    p = await client.get_printer_info()
    names = {t.name for t in p.temperatures}
    return {"tool0", "bed"} <= names and all(isinstance(t.actual_temp, (int, float)) for t in p.temperatures)


async def _offline(client):
    try:
        await client.get_printer_info()
    except PrinterOffline:
        j = await client.get_job_info()
        return j.state == "Offline"
    return False


async def upload(plain, api_key, name, data):
    """Uploads, selects and starts a file (HA cannot; a slicer would)."""
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(data), filename=name, content_type="application/octet-stream")
    form.add_field("select", "true")
    form.add_field("print", "true")
    async with plain.post(url + "/api/files/local", data=form, headers={"X-Api-Key": api_key}) as r:
        check(f"upload {name} and print it", r.status == 201, f"{r.status} {await r.text()}")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        failures.append("the flow stopped on an exception")
    if failures:
        print(f"\n{len(failures)} check(s) failed:")
        for f in failures:
            print(f"  - {f}")
        sys.exit(1)
    print("pyoctoprintapi: every operation went as against OctoPrint")
