"""Jinlin's Open311 endpoint against a real client from PyPI.

Starts `jinlin demo` (SQLite, a fresh data directory), makes an Open311 key with the CLI, then:
- drives the `georeport` client (PyPI) in JSON and XML mode: list services, fetch a service
  definition, list requests, fetch one request (also the one-item XML case);
- POSTs raw HTTP: a form with attribute[code] and attribute[code][] answers, and a
  multipart/form-data request with a `media` file, then follows both with the client;
- parses every XML body it sees as XML (well-formed), and checks the error documents.

Usage: JINLIN_BIN=target/debug/jinlin python tests/open311/clients.py
Exit code 0 when every check passes; the last line is "N passed, M failed".
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET

from georeport import GeoReport

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.environ.get("JINLIN_BIN", os.path.join(REPO, "target/debug/jinlin")))
DISTRICT = "350503000000"
GRID = "350503001001001"
# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000a49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)

results = []


def check(name, fn):
    started = time.time()
    try:
        fn()
        results.append((name, True))
        print(f"  ok    {name} ({int((time.time() - started) * 1000)} ms)", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported, then the run goes on
        results.append((name, False))
        print(f"  FAIL  {name}: {type(e).__name__}: {e}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def well_formed(body, root):
    doc = ET.fromstring(body)
    assert doc.tag == root, f"root <{doc.tag}>, expected <{root}>"
    return doc


def main():
    data = tempfile.mkdtemp(prefix="jinlin-open311-")
    port = free_port()
    base = f"http://127.0.0.1:{port}/open311/v2"
    log = open(os.path.join(data, "server.log"), "w")
    server = subprocess.Popen(
        [BIN, "--data", data, "demo", "--listen", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    try:
        deadline = time.time() + 180
        while True:
            try:
                if http("GET", f"http://127.0.0.1:{port}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.time() > deadline:
                log.flush()
                print(open(os.path.join(data, "server.log")).read()[-3000:])
                raise SystemExit("jinlin demo did not start")
            time.sleep(0.5)
        key = subprocess.run(
            [BIN, "--data", data, "open311", "key", "create", "--name", "CI georeport", "--district", DISTRICT],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert key.startswith("jl311_"), key
        tokens = {}
        for user in ("community", "grid"):
            tokens[user] = subprocess.run(
                [BIN, "--data", data, "token", "create", "--user", user],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        run_checks(base, key, f"http://127.0.0.1:{port}/api/v1", tokens)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
    failed = sum(1 for _, ok in results if not ok)
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def api(url, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    status, _, raw = http("POST" if data else "GET", url, data, headers)
    assert status in (200, 201), (url, status, raw.decode())
    return json.loads(raw)


def run_checks(base, key, api_base, tokens):
    js = GeoReport(base, jurisdiction=DISTRICT)
    xm = GeoReport(base + "/", jurisdiction=DISTRICT, output_format="xml")
    filed = {}

    def discovery():
        for fmt, ctype in (("xml", "text/xml"), ("json", "application/json")):
            status, content_type, body = http("GET", f"{base}/discovery.{fmt}")
            assert status == 200 and content_type.startswith(ctype), (status, content_type)
        doc = well_formed(http("GET", f"{base}/discovery.xml")[2], "discovery")
        assert doc.find("endpoints/endpoint/specification").text == "http://wiki.open311.org/GeoReport_v2"
        d = json.loads(http("GET", f"{base}/discovery.json")[2])
        assert d["key_service"] and d["contact"] and d["changeset"]

    def service_list():
        services = js.get_service_list()
        assert isinstance(services, list) and len(services) > 50, len(services)
        codes = {s["service_code"] for s in services}
        assert {"repair.lift", "E06004", "noise.construction"} <= codes
        lift = next(s for s in services if s["service_code"] == "repair.lift")
        assert lift["metadata"] is True and lift["type"] == "realtime"
        as_xml = xm.get_service_list()
        assert len(as_xml) == len(services)
        assert {s["service_code"] for s in as_xml} == codes
        well_formed(http("GET", f"{base}/services.xml")[2], "services")

    def service_definition():
        d = js.get_service_definition("noise.construction")
        assert d["service_code"] == "noise.construction"
        periods = next(a for a in d["attributes"] if a["code"] == "periods")
        assert periods["datatype"] == "multivaluelist" and periods["required"] is True
        assert [v["key"] for v in periods["values"]] == ["morning", "day", "evening", "night"]
        x = xm.get_service_definition("repair.lift")
        codes = [a["code"] for a in x["attributes"]["attribute"]]
        assert codes == ["lift_notice", "trapped", "lift_no"], codes
        well_formed(http("GET", f"{base}/services/repair.lift.xml")[2], "service_definition")

    def post_with_attributes():
        form = urllib.parse.urlencode(
            [
                ("api_key", key),
                ("jurisdiction_id", ""),
                ("service_code", "noise.construction"),
                ("address_id", GRID),
                ("attribute[periods][]", "night"),
                ("attribute[periods][]", "evening"),
                ("attribute[site]", "东霞小区 5 号楼"),
                ("description", "夜间施工，电钻声很大"),
                ("first_name", "三"),
                ("last_name", "张"),
                ("phone", "13812345678"),
            ]
        ).encode()
        status, ctype, body = http(
            "POST", f"{base}/requests.xml", form, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        )
        assert status == 200, body.decode()
        doc = well_formed(body, "service_requests")
        filed["appeal"] = doc.find("request/service_request_id").text
        assert filed["appeal"].isdigit()

    def post_multipart_media():
        boundary = uuid.uuid4().hex
        parts = []
        for k, v in (("api_key", key), ("service_code", "E06004"), ("address_id", GRID), ("description", "路面有大片油污")):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="p.png"\r\n'
            f"Content-Type: image/png\r\n\r\n".encode()
            + PNG
            + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        status, ctype, body = http(
            "POST", f"{base}/requests.json", b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        assert status == 200 and ctype.startswith("application/json"), (status, body.decode())
        receipt = json.loads(body)
        filed["event"] = receipt[0]["service_request_id"]

    def list_and_fetch_requests():
        rows = js.get_service_requests()
        assert isinstance(rows, list) and rows, rows
        ids = {r["service_request_id"] for r in rows}
        assert filed["event"] in ids, "the public request is listed"
        assert filed["appeal"] not in ids, "a personal appeal is not listed publicly"
        one = js.get_service_request(filed["event"])
        assert one["status"] == "open" and one["service_code"] == "E06004", one
        assert one["expected_datetime"].endswith("+08:00")
        # XML with exactly one <request> (xmltodict gives a dict, not a list).
        only = xm.get_service_requests(service_request_id=filed["event"])
        assert only["service_request_id"] == filed["event"], only
        by_code = js.get_service_requests(service_code="E06004", status="open")
        assert all(r["service_code"] == "E06004" and r["status"] == "open" for r in by_code)
        x = xm.get_service_request(filed["event"])
        assert x["service_request_id"] == filed["event"]
        for body in (http("GET", f"{base}/requests.xml")[2], http("GET", f"{base}/requests/{filed['event']}.xml")[2]):
            well_formed(body, "service_requests")
        # The appeal is readable with the key that filed it, without any personal data.
        status, _, body = http("GET", f"{base}/requests/{filed['appeal']}.json?api_key={urllib.parse.quote(key)}")
        assert status == 200, body.decode()
        text = body.decode()
        assert "13812345678" not in text and "张三" not in text, text

    def updates():
        status, ctype, body = http("GET", f"{base}/servicerequestupdates.json")
        assert status == 200, body.decode()
        rows = json.loads(body)
        assert any(u["service_request_id"] == filed["event"] and u["status"] == "OPEN" for u in rows)
        well_formed(http("GET", f"{base}/servicerequestupdates.xml")[2], "service_requests_updates")

    def errors():
        for url, method, form, code in (
            (f"{base}/requests/999999999.xml", "GET", None, 404),
            (f"{base}/services/no.such.json", "GET", None, 404),
            (f"{base}/requests.xml", "POST", {"api_key": "wrong", "service_code": "E06004"}, 403),
            (f"{base}/requests.xml", "POST", {"api_key": key, "service_code": "E06004"}, 400),
            (f"{base}/requests.json", "POST", {"api_key": key, "service_code": "E06004", "lat": "95", "long": "1"}, 400),
        ):
            body = urllib.parse.urlencode(form).encode() if form else None
            status, ctype, raw = http(method, url, body, {"Content-Type": "application/x-www-form-urlencoded"} if body else {})
            assert status == code, (url, status, raw.decode())
            if url.endswith(".xml"):
                doc = well_formed(raw, "errors")
                assert doc.find("error/code").text == str(code)
                assert doc.find("error/description").text
            else:
                e = json.loads(raw)
                assert e[0]["code"] == code and e[0]["description"], e
        try:
            js.get_service_request("999999999")
            raise AssertionError("an unknown id must be an HTTP error")
        except Exception as e:  # requests.HTTPError from raise_for_status
            assert "404" in str(e), e

    def follow_to_closed():
        # The community desk and the grid worker work the case through Jinlin's own API; the
        # 311 client sees it go from open to closed.
        case = filed["event"]
        worker = api(f"{api_base}/me", tokens["grid"])["id"]
        steps = [
            ("community", {"action": "accept"}),
            ("community", {"action": "dispatch", "to": {"kind": "grid_worker", "id": worker}}),
            ("grid", {"action": "take"}),
            ("grid", {"action": "resolve", "result": "已清理油污并冲洗路面"}),
            ("grid", {"action": "verify_pass"}),
        ]
        for user, action in steps:
            api(f"{api_base}/cases/{case}/actions", tokens[user], {"action": action})
            if action["action"] == "resolve":
                assert js.get_service_request(case)["status"] == "open", "awaiting verification is open"
        done = js.get_service_request(case)
        assert done["status"] == "closed", done
        assert done.get("status_notes"), done
        closed = js.get_service_requests(status="closed", service_code="E06004")
        assert any(r["service_request_id"] == case for r in closed)
        ups = json.loads(http("GET", f"{base}/servicerequestupdates.json")[2])
        mine = [u["status"] for u in ups if u["service_request_id"] == case]
        assert mine[0] == "OPEN" and mine[-1] == "FIXED", mine

    check("discovery in XML and JSON", discovery)
    check("georeport: service list (JSON and XML)", service_list)
    check("georeport: service definitions", service_definition)
    check("raw POST with attribute[code] and attribute[code][]", post_with_attributes)
    check("raw multipart POST with a media file", post_multipart_media)
    check("georeport: list and fetch requests", list_and_fetch_requests)
    check("servicerequestupdates", updates)
    check("the request followed to closed while the county works it", follow_to_closed)
    check("errors: status codes and error documents", errors)


if __name__ == "__main__":
    main()
