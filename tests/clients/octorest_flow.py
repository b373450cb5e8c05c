"""octorest (PyPI), OctoPrint's Python client library, through every
operation its documentation shows, against a running Plinth.

Usage: octorest_flow.py <url> <api key>. Exits non-zero (with the failing
step) when anything does not go as against OctoPrint.
"""
import io
import json
import sys
import threading
import time

from octorest import OctoRest, WebSocketEventHandler

url, key = sys.argv[1], sys.argv[2]


def wait(what, check, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


client = OctoRest(url=url, apikey=key)
assert client.version["text"].startswith("OctoPrint"), client.version

# The push channel, as octorest reads it (SockJS framing), authenticated
# with the session of a passive login.
events = []
login = client.session.post(url + "/api/login", json={"passive": True}).json()


def on_open(ws):
    ws.send(json.dumps([json.dumps({"auth": f"{login['name']}:{login['session']}"})]))


def on_message(ws, message):
    message = json.loads(message) if isinstance(message, str) else message
    if "event" in message:
        events.append(message["event"]["type"])


socket = WebSocketEventHandler(url, on_open=on_open, on_message=on_message)
socket.run()

# Connection, state, temperatures.
info = client.connection_info()
assert "VIRTUAL" in info["options"]["ports"], info
client.connect(port="VIRTUAL", baudrate=115200)
wait("Operational", lambda: client.state() == "Operational")
wait("temperatures", lambda: "tool0" in client.printer().get("temperature", {}))
client.tool_target(200)
client.bed_target(60)
wait("the tool's target", lambda: client.tool()["tool0"]["target"] == 200)
assert client.bed()["bed"]["target"] == 60
client.tool_target(0)
client.bed_target(0)
client.home()
client.jog(x=10, y=5)
client.feedrate(100)
client.gcode("M117 hello from octorest")
client.gcode(["M105", "M114"])

# Files: upload, information, copy, move, delete.
gcode = ("G28\n" + "G1 X10 Y10 F3000\nG1 X0 Y0\n" * 400).encode()
uploaded = client.upload(("cube.gcode", io.BytesIO(gcode)))
assert uploaded["done"] is True, uploaded
listing = client.files()
assert any(f["name"] == "cube.gcode" for f in listing["files"]), listing
assert "free" in listing and "total" in listing, listing
assert client.files_info("local", "cube.gcode")["name"] == "cube.gcode"
client.copy("cube.gcode", "copy.gcode")
client.move("copy.gcode", "moved.gcode")
assert client.files_info("local", "moved.gcode")["name"] == "moved.gcode"
client.delete("moved.gcode")

# Select, print, pause, resume, cancel.
client.select("cube.gcode")
assert client.job_info()["job"]["file"]["name"] == "cube.gcode"
client.start()
wait("Printing", lambda: client.job_info()["state"] == "Printing")
client.pause()
wait("Paused", lambda: client.job_info()["state"] == "Paused")
client.resume()
wait("Printing again", lambda: client.job_info()["state"] == "Printing")
client.cancel()
wait("Operational after the cancel", lambda: client.job_info()["state"] == "Operational")

# Settings, printer profiles, slicers.
settings = client.settings()
assert isinstance(settings, dict) and settings, settings
profiles = client.printer_profiles()
assert "_default" in profiles["profiles"], profiles
assert isinstance(client.slicers(), dict)

# The push channel saw the print's events.
wait("the push channel's events", lambda: {"PrintStarted", "PrintPaused", "PrintResumed", "PrintCancelled"} <= set(events))

client.disconnect()
wait("Offline", lambda: client.state() == "Offline")
print("octorest: every operation went as against OctoPrint")
