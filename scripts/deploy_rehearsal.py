"""The deploy rehearsal (`make deploy-rehearsal`): an operator's `sam build && sam deploy`,
played end to end against an emulated AWS account (a moto server, GRID_TEST_MOTO_URL).

1. `sam build`, for real (cargo lambda, arm64), twice: once with a change in crates/,
   once without; each build is deployed, and the second must reach the deployed zips.
2. The built template is deployed as two stacks side by side. `sam package` uploads
   the built zips to moto's S3, as `sam deploy` does; moto's CloudFormation does not run
   the Serverless transform, so the packaged template is translated with SAM's own
   translator (samtranslator), and `sam deploy` deploys the result (its change sets,
   created and executed by moto, with samconfig.toml's deploy settings).
3. Each deployed function's zip, fetched from moto's S3 where GetFunction points, holds
   the aarch64 `bootstrap` that `sam build` made.
4. The functions run as host builds under cargo lambda's runtime emulator, with the
   environment the stack gave them (GetFunctionConfiguration), while a whole period
   runs through them: registrations over HTTP, readings through the channel node, the
   poller's scheduled and SQS events, settlement, a payment, the batch monitor against
   the development ledger; then the books are checked through the portal's API.
5. Every AWS request each function made (GRID_REQUEST_LOG) is checked against the
   function's IAM role as the stack created it, by a real IAM policy evaluator
   (scripts/iam/check.mjs); a denied request fails the rehearsal, and a write the role
   grants that the function never used is reported.
6. What moto's CloudFormation does not create (API Gateway v2, EventBridge Scheduler) is
   checked in the translated template: the routes cover every route of the OpenAPI
   document, each schedule targets its function with its input and role, and every
   name that must be unique in an account carries the stack's name.

Usage: scripts/with-moto .venv/bin/python3 scripts/deploy_rehearsal.py
"""

import ast
import contextlib
import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import boto3
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
BUILD = ROOT / ".aws-sam" / "build"
REGION, ACCOUNT = "us-east-1", "123456789012"
STACKS = ("rehearsal-a", "rehearsal-b")
ARTIFACTS = "rehearsal-artifacts"
# Where cargo put the host builds: CARGO_TARGET_DIR when set (a CI cache), else target/.
DEBUG = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
PORTAL_TOKEN = "rehearsal-portal-token-0001"
LEDGER_KEY = "RehearsalGridLedgerKey0001"
CONSUMER_KEY = "RehearsalConsumerKey0001"
FUNCTIONS = ("registration", "storage", "channels", "portal", "poller", "settlement", "batch-monitor")

# The code change the first deploy ships: the default wallet name, a literal that every
# function links (the stack sets GRID_WALLET, so nothing behaves differently).
CHANGED_FILE = ROOT / "crates" / "grid-app" / "src" / "config" / "mod.rs"
MARK = "grid-wallet-rehearsed"
ORIGINAL, CHANGED = '.unwrap_or("grid-wallet")', f'.unwrap_or("{MARK}")'


def say(message):
    print(f"rehearsal: {message}", flush=True)


def fail(message):
    raise SystemExit(f"rehearsal FAILED: {message}")


def aws_env():
    env = dict(os.environ)
    env.update(
        AWS_ENDPOINT_URL=os.environ["GRID_TEST_MOTO_URL"],
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        SAM_CLI_TELEMETRY="0",
        PATH=f"{VENV}:{os.environ['PATH']}",
    )
    return env


def run(command, **kwargs):
    """Runs a command, failing the rehearsal with its output if it fails."""
    result = subprocess.run(command, cwd=kwargs.pop("cwd", ROOT), env=kwargs.pop("env", aws_env()),
                            capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        fail(f"{' '.join(map(str, command))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def client(service):
    return boto3.client(service, endpoint_url=os.environ["GRID_TEST_MOTO_URL"], region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- build and deploy ---------------------------------------------------------------


@contextlib.contextmanager
def code_change():
    """The service's name changed in crates/ for the duration, restored however it ends."""
    text = CHANGED_FILE.read_text()
    if ORIGINAL not in text:
        fail(f"{CHANGED_FILE} no longer holds {ORIGINAL}; update the rehearsal")
    CHANGED_FILE.write_text(text.replace(ORIGINAL, CHANGED, 1))
    try:
        yield
    finally:
        CHANGED_FILE.write_text(text)


def restore_an_interrupted_change():
    text = CHANGED_FILE.read_text()
    if CHANGED in text:
        say(f"restoring {CHANGED_FILE.relative_to(ROOT)}, changed by an interrupted rehearsal")
        CHANGED_FILE.write_text(text.replace(CHANGED, ORIGINAL))


def sam_build():
    started = time.monotonic()
    run([VENV / "sam", "build"])
    say(f"sam build: {time.monotonic() - started:.0f} s")


class ManagedPolicies:
    """The AWS managed policies SAM may attach, by name (what its loader reads from IAM)."""

    def load(self):
        return {
            "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "AWSLambdaSQSQueueExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
            "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        }


def package_and_translate(parameters):
    """`sam package` (to moto's S3), then SAM's translator: the stack's template."""
    with tempfile.TemporaryDirectory() as scratch:
        packaged = Path(scratch) / "packaged.yaml"
        run([VENV / "sam", "package", "--s3-bucket", ARTIFACTS, "--output-template-file", packaged])
        template = yaml_parse(packaged.read_text())
    return transform(template, parameters, ManagedPolicies())


def deploy(stack, translated, parameters):
    """`sam deploy` of the translated template as `stack`: SAM's change set, created and
    executed by moto's CloudFormation, with samconfig.toml's deploy settings."""
    with tempfile.TemporaryDirectory() as scratch:
        template = Path(scratch) / "translated.json"
        template.write_text(json.dumps(translated))
        # moto reads a template URL's bucket from its host name unless the host is
        # "localhost", and SAM points CloudFormation at its upload by the endpoint's URL.
        env = aws_env()
        env["AWS_ENDPOINT_URL"] = env["AWS_ENDPOINT_URL"].replace("127.0.0.1", "localhost")
        run([VENV / "sam", "deploy", "--template-file", template, "--stack-name", stack,
             "--s3-bucket", ARTIFACTS, "--no-resolve-s3", "--no-confirm-changeset",
             "--parameter-overrides", *(f"{k}={v}" for k, v in parameters.items())], env=env)
    status = client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    if status["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        fail(f"stack {stack}: {status['StackStatus']} {status.get('StackStatusReason')}")
    say(f"stack {stack}: sam deploy: {status['StackStatus']}")


def deployed_bootstraps(stack):
    """Each function's deployed `bootstrap`, from the zip GetFunction points to."""
    lam, s3 = client("lambda"), client("s3")
    found = {}
    for name in FUNCTIONS:
        code = lam.get_function(FunctionName=f"{stack}-{name}")["Code"]
        # moto answers with Lambda's own bucket's URL; the key is the packaged artifact's.
        key = code["Location"].rstrip("/").rsplit("/", 1)[-1]
        archive = zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read()))
        if "bootstrap" not in archive.namelist():
            fail(f"{stack}-{name}: the deployed zip holds {archive.namelist()}, no bootstrap")
        found[name] = archive.read("bootstrap")
    return found


def check_bootstraps(stack, bootstraps, changed):
    built = {name: (BUILD / logical(name) / "bootstrap").read_bytes() for name in FUNCTIONS}
    for name, binary in bootstraps.items():
        # ELF, 64-bit, little-endian, e_machine 183: AArch64.
        if binary[:4] != b"\x7fELF" or int.from_bytes(binary[18:20], "little") != 183:
            fail(f"{stack}-{name}: the deployed bootstrap is not an aarch64 executable")
        if hashlib.sha256(binary).digest() != hashlib.sha256(built[name]).digest():
            fail(f"{stack}-{name}: the deployed bootstrap is not what sam build made")
        if (MARK.encode() in binary) != changed:
            fail(f"{stack}-{name}: the deployed bootstrap {'lacks' if changed else 'still has'} the code change")
    say(f"stack {stack}: seven aarch64 bootstraps, exactly sam build's, {'with' if changed else 'without'} "
        f"the code change")


def logical(name):
    return "".join(part.capitalize() for part in name.split("-")) + "Function"


# --- the translated template: what moto does not create ------------------------------


def check_names_are_scoped(translated):
    """Every name that must be unique in an account and region carries the stack's name
    (a name left out is generated by CloudFormation, and unique)."""
    declared = {
        "AWS::Lambda::Function": "FunctionName",
        "AWS::DynamoDB::Table": "TableName",
        "AWS::Logs::LogGroup": "LogGroupName",
        "AWS::SQS::Queue": "QueueName",
        "AWS::S3::Bucket": "BucketName",
        "AWS::Scheduler::Schedule": "Name",
        "AWS::IAM::Role": "RoleName",
    }
    named = 0
    for logical_id, resource in translated["Resources"].items():
        key = declared.get(resource["Type"])
        value = resource.get("Properties", {}).get(key) if key else None
        if value is None:
            continue
        named += 1
        if "AWS::StackName" not in json.dumps(value):
            fail(f"{logical_id}.{key} = {json.dumps(value)} is not scoped to the stack: two stacks collide")
    say(f"all {named} names unique in an account carry the stack's name")


def route_matches(route, method, path):
    route_method, route_path = route.split(" ", 1)
    if route_method not in ("ANY", method.upper()):
        return False
    pattern = re.sub(r"\\\{[^/]+?\\\+\\\}", ".+", re.escape(route_path))
    pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", pattern)
    return re.fullmatch(pattern, path.replace("{", "x").replace("}", "x")) is not None


def check_routes(translated, openapi):
    apis = [r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    if len(apis) != 1:
        fail(f"expected one HTTP API, found {len(apis)}")
    body = apis[0]["Properties"]["Body"]
    routes = [f"{'ANY' if m == 'x-amazon-apigateway-any-method' else m.upper()} {p}"
              for p, methods in body["paths"].items() for m in methods]
    missing = [f"{m.upper()} {p}" for p, methods in openapi["paths"].items() for m in methods
               if not any(route_matches(r, m, p) for r in routes)]
    if missing:
        fail(f"the HTTP API has no route for {missing}")
    say(f"the HTTP API's {len(routes)} routes cover the OpenAPI document's "
        f"{sum(len(m) for m in openapi['paths'].values())} operations")


def check_schedules(translated):
    expected = {"PollerFunction": {"poller", "poller-full"}, "SettlementFunction": {"settlement"},
                "BatchMonitorFunction": {"batch-monitor"}}
    schedules = {k: r for k, r in translated["Resources"].items() if r["Type"] == "AWS::Scheduler::Schedule"}
    seen = set()
    for logical_id, schedule in schedules.items():
        target = schedule["Properties"]["Target"]
        function = target["Arn"]["Fn::GetAtt"][0]
        if function not in expected:
            fail(f"{logical_id} targets {function}")
        job = json.loads(target["Input"])
        if job.get("job") not in expected[function]:
            fail(f"{logical_id} sends {target['Input']} to {function}")
        role = target["RoleArn"]["Fn::GetAtt"][0]
        statements = translated["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        if not any(s["Action"] == "lambda:InvokeFunction" and function in json.dumps(s["Resource"]) for s in statements):
            fail(f"{logical_id}'s role {role} cannot invoke {function}")
        seen.add((function, job.get("job")))
    wanted = {(function, job) for function, jobs in expected.items() for job in jobs}
    if seen != wanted:
        fail(f"schedules run {sorted(seen)}, expected {sorted(wanted)}")
    say("each schedule targets its function with its job and a role that may invoke it")


def check_throttles_and_growth(translated, openapi):
    """Issue 29: every route that writes has its own throttle, lower than the reads'; old
    object versions go within a week; storage and table growth raise alarms; the optional
    edge blocks a client address past its rate."""
    resources, defaults = translated["Resources"], translated["Parameters"]
    stages = [r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
    if len(stages) != 1:
        fail(f"expected one HTTP API stage, found {len(stages)}")
    stage = stages[0]["Properties"]
    if stage["DefaultRouteSettings"]["ThrottlingRateLimit"] != {"Ref": "ApiRateLimit"}:
        fail(f"the default route throttle is {stage['DefaultRouteSettings']}")
    writes = [f"{m.upper()} {p}" for p, methods in openapi["paths"].items() for m in methods
              if m in ("put", "post", "delete") and not p.endswith("batch-get") and not p.startswith("/portal")]
    settings = stage.get("RouteSettings", {})
    for route in writes:
        throttle = settings.get(route, {})
        if throttle.get("ThrottlingRateLimit") != {"Ref": "ApiWriteRateLimit"} or \
                throttle.get("ThrottlingBurstLimit") != {"Ref": "ApiWriteBurstLimit"}:
            fail(f"{route} has no write throttle: {throttle}")
    if not (defaults["ApiWriteRateLimit"]["Default"] < defaults["ApiRateLimit"]["Default"]
            and defaults["ApiWriteBurstLimit"]["Default"] < defaults["ApiBurstLimit"]["Default"]):
        fail("the write routes' throttles are not lower than the reads'")
    rules = resources["StorageBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    days = [r["NoncurrentVersionExpiration"]["NoncurrentDays"] for r in rules if "NoncurrentVersionExpiration" in r]
    if not days or max(days) > 7:
        fail(f"old object versions are kept {days} days")
    for alarm, metric in (("StorageGrowthAlarm", "BucketSizeBytes"), ("TableGrowthAlarm", "ConsumedWriteCapacityUnits")):
        body = json.dumps(resources[alarm]["Properties"])
        if metric not in body or "AlarmTopic" not in body:
            fail(f"{alarm} does not watch {metric} and notify the alarm topic")
    acl, edge = resources["EdgeWebAcl"], resources["EdgeDistribution"]
    rate = acl["Properties"]["Rules"][0]["Statement"]["RateBasedStatement"]
    if (acl.get("Condition"), edge.get("Condition")) != ("UseEdge", "UseEdge") or rate["AggregateKeyType"] != "IP" \
            or "EdgeWebAcl" not in json.dumps(edge["Properties"]["DistributionConfig"]["WebACLId"]):
        fail("the optional edge does not put a per-address WAF rule in front of the API")
    say(f"{len(writes)} write routes throttled below the reads; old versions kept {max(days)} days; "
        "storage and table growth alarmed; the optional edge limits each client address")


# --- a period through the deployed functions ------------------------------------------


class Processes:
    def __init__(self):
        self.running = []

    def start(self, command, **kwargs):
        process = subprocess.Popen(command, stdout=kwargs.pop("stdout", subprocess.DEVNULL),
                                   stderr=kwargs.pop("stderr", subprocess.DEVNULL), **kwargs)
        self.running.append(process)
        return process

    def stop(self):
        for process in reversed(self.running):
            process.kill()
            process.wait()


def wait_for(port, what):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    fail(f"{what} did not listen on {port} within 60 s")


class Grid:
    """The stack's functions, as host builds attached to cargo lambda's emulator."""

    def __init__(self, stack, processes, logs):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        processes.start([VENV / "cargo-lambda", "lambda", "watch", "--package", "grid-functions",
                         "--only-lambda-apis", "--invoke-address", "127.0.0.1", "--invoke-port", str(self.port)],
                        cwd=ROOT / "functions")
        wait_for(self.port, "the Lambda emulator")
        lam = client("lambda")
        self.config = {}
        for name in FUNCTIONS:
            configuration = lam.get_function_configuration(FunctionName=f"{stack}-{name}")
            variables = {k: str(v) for k, v in configuration["Environment"]["Variables"].items()}
            self.config[name] = variables
            env = {
                "PATH": os.environ["PATH"],
                "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{self.port}/.rt/{name}",
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(configuration.get("MemorySize", 256)),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_ENDPOINT_URL": os.environ["GRID_TEST_MOTO_URL"],
                "GRID_REQUEST_LOG": str(logs / f"{name}.jsonl"),
                **variables,
            }
            env["RUST_LOG"] = "warn"
            if name == "batch-monitor":
                # What the development ledger asks of the grid's payouts; a production
                # ledger authenticates the grid its own way (docs/deploy.md).
                env["LEDGER_KEY"] = LEDGER_KEY
            # Its log, as CloudWatch Logs would keep it: the metrics' EMF lines are in it.
            with open(logs / f"{name}.log", "wb") as log:
                processes.start([DEBUG / name], env=env, stderr=None, stdout=log)
        parameter = self.config["portal"]["PORTAL_TOKEN_PARAMETER"]
        self.portal_token = client("ssm").get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]

    def http(self, method, path, body=None, token=None, side_key=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        if side_key:
            headers["x-side-key"] = side_key
        deadline = time.monotonic() + 60
        while True:
            request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    text = response.read().decode()
                    status = response.status
            except urllib.error.HTTPError as e:
                text, status = e.read().decode(), e.code
            except OSError:
                # The first request to a function waits for it to attach.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
                continue
            try:
                return status, json.loads(text)
            except json.JSONDecodeError:
                return status, text

    def expect(self, status, method, path, body=None, token=None, side_key=None):
        got, answer = self.http(method, path, body, token, side_key)
        if got != status:
            fail(f"{method} {path}: {got} {answer}, expected {status}")
        return answer

    def invoke(self, name, event):
        output = run([VENV / "cargo-lambda", "lambda", "invoke", name, "--output-format", "json",
                      "--invoke-address", "127.0.0.1", "--invoke-port", str(self.port),
                      "--data-ascii", json.dumps(event)], env=dict(os.environ, PATH=f"{VENV}:{os.environ['PATH']}"))
        return json.loads(output)

    def gridctl(self, *arguments):
        return run([DEBUG / "gridctl", *arguments], env=dict(os.environ))


# What Lambda's SQS trigger does with the poller's role: the rehearsal does it in its
# stead, and its requests are checked against the role with the function's own.
TRIGGER = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


class Stay(urllib.request.HTTPRedirectHandler):
    """Answers a redirect as it is, to read its cookie."""
    def redirect_request(self, *_):
        return None


def form(grid, method, path, body=None, cookie=None):
    """A browser's request: a form body, a cookie, redirects answered as they are.
    (status, headers, text)."""
    headers = {"content-type": "application/x-www-form-urlencoded", **({"cookie": cookie} if cookie else {})}
    request = urllib.request.Request(grid.base + path, data=body and body.encode(), method=method, headers=headers)
    try:
        with urllib.request.build_opener(Stay).open(request, timeout=60) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def session(grid, path, body, name):
    """Signs in with the form `body` at `path`: the session cookie `name` it sets."""
    status, headers, _ = form(grid, "POST", path, body)
    if status != 303 or not headers.get("set-cookie", "").startswith(f"{name}="):
        fail(f"signing in at {path} got {status} {dict(headers)}")
    return headers["set-cookie"].split(";")[0]


def sign_in_and_out(grid):
    """The portal's sign-in through its function: a wrong token refused (and counted), a
    session that opens the API, and a logout after which the same cookie opens nothing."""
    if (status := form(grid, "POST", "/portal/login", "token=not-the-portal-token")[0]) != 401:
        fail(f"a wrong portal token got {status}")
    cookie = session(grid, "/portal/login", f"token={grid.portal_token}", "grid_portal")
    opened = form(grid, "GET", "/portal/api/overview", cookie=cookie)[0]
    form(grid, "POST", "/portal/logout", cookie=cookie)
    after = form(grid, "GET", "/portal/api/overview", cookie=cookie)[0]
    if (opened, after) != (200, 401):
        fail(f"a session opened the portal with {opened} and after its logout with {after}")


def member_signs_in_and_out(grid, member, side_key):
    """The member page's sign-in through the portal function: the page opens with the
    session, and not after its logout."""
    cookie = session(grid, "/members/login", f"registrationId={member}&sideKey={side_key}", "grid_member")
    opened = form(grid, "GET", "/members", cookie=cookie)[2]
    form(grid, "POST", "/members/logout", cookie=cookie)
    after = form(grid, "GET", "/members", cookie=cookie)[2]
    if member not in opened or 'name="sideKey"' not in after:
        fail("the member page did not open with its session, or still did after its logout")


def hand_over_the_queue_trigger(stack):
    """moto answers each message sent to a queue with a Lambda trigger by receiving the
    queue's messages for a function it cannot run here (no Docker), then putting them back:
    every message the channel node queues would be received again at each later send, and
    dead-lettered after a few. The trigger is checked in the template; here it is turned
    off, and `poll` delivers the queue to the poller as Lambda would."""
    lam = client("lambda")
    for mapping in lam.list_event_source_mappings(FunctionName=f"{stack}-poller")["EventSourceMappings"]:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)


def poll(grid):
    """The poller's schedule, then its SQS trigger for what it queued, as Lambda delivers them."""
    dispatched = grid.invoke("poller", {"job": "poller", "scheduledTime": "2026-12-03T10:00:00Z"})
    sqs = client("sqs")
    queue = grid.config["poller"]["POLL_WORK_QUEUE_URL"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    handled = 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return dispatched, handled
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
            "messageAttributes": {}, "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn, "awsRegion": REGION} for m in messages]}
        answer = grid.invoke("poller", event)
        if answer.get("batchItemFailures"):
            fail(f"the poller failed work it was given: {answer}")
        for m in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        handled += len(messages)


def a_period_through_the_functions(grid, ledger):
    node = f"--node={grid.base}"
    producer = json.loads(grid.gridctl("channel", "new", node))
    consumer = json.loads(grid.gridctl("channel", "new", node))
    grid.expect(201, "PUT", "/registration/producer-0001",
                {"itemType": "producer", "itemName": "Rooftop", "root": producer["root"], "sideKey": producer["sideKey"]})
    registered = grid.expect(201, "PUT", "/registration/consumer-0001",
                             {"itemType": "consumer", "root": consumer["root"], "sideKey": consumer["sideKey"]})
    # Storage, and a registration's removal, for the functions' other paths.
    leaving = grid.expect(201, "PUT", "/registration/consumer-0002", {"itemType": "consumer"})
    owner = producer["sideKey"]
    for item in ("a", "b"):
        grid.expect(200, "PUT", f"/storage/producer-0001/notes/{item}", {"item": item}, side_key=owner)
    grid.expect(401, "PUT", "/storage/producer-0001/notes/c", {"item": "c"})
    grid.expect(200, "GET", "/storage/producer-0001/notes?page=0&pageSize=10")
    grid.expect(200, "GET", "/storage/producer-0001")
    grid.expect(200, "DELETE", "/storage/producer-0001/notes/a", side_key=owner)
    grid.expect(200, "PUT", "/storage/producer-0001/misc/x", {"x": 1}, side_key=owner)
    grid.expect(200, "DELETE", "/storage/producer-0001/misc", side_key=owner)
    second = grid.expect(200, "GET", "/portal/api/registrations/consumer-0002", token=grid.portal_token)
    if second["itemType"] != "consumer":
        fail(f"the portal shows {second}")

    # A settled period an hour ago: 2 kWh offered at 120 IOTA/kWh, 1.5 kWh used.
    period = (int(time.time() * 1000) // 900_000 - 4) * 900_000
    publish = lambda secrets, command: grid.gridctl(  # noqa: E731
        "channel", "publish", node, "--seed", secrets["seed"], "--side-key", secrets["sideKey"], "--from", "1",
        json.dumps(command))
    publish(producer, {"command": "output", "startTime": period + 1000, "endTime": period + 61_000, "output": 2.0,
                       "producerPrice": 120, "paymentIdOrAddress": "wallet-producer-0001"})
    publish(consumer, {"command": "usage", "startTime": period + 2000, "endTime": period + 62_000, "usage": 1.5})
    # A producer does not send usage: refused and recorded.
    publish(producer, {"command": "usage", "startTime": period + 3000, "endTime": period + 63_000, "usage": 0.1})
    # A producer claims a source's channel and gives it up; a channel nobody claimed,
    # past its day, is deleted by the sweep with its envelope.
    source = json.loads(grid.gridctl("channel", "new", node))
    grid.expect(201, "PUT", f"/registration/producer-0001/sources/{source['root']}", side_key=owner)
    grid.expect(200, "DELETE", f"/registration/producer-0001/sources/{source['root']}", side_key=owner)
    table = grid.config["poller"]["CHANNEL_MESSAGES_TABLE"]
    dynamodb = client("dynamodb")
    stale = {"address": {"S": "head#" + "ab" * 32}, "nextIndex": {"N": "1"}, "readIndex": {"N": "1"},
             "unclaimedUntil": {"N": "1"}, "expiring": {"S": "1"}, "messages": {"SS": ["rehearsal-stale-envelope"]}}
    dynamodb.put_item(TableName=table, Item=stale)
    dynamodb.put_item(TableName=table, Item={"address": {"S": "rehearsal-stale-envelope"}, "envelope": {"S": "{}"}})
    dispatched, handled = poll(grid)
    if dispatched.get("registrations") != 2 or handled < 1:
        fail(f"the poller dispatched {dispatched} and handled {handled} work messages")
    if dispatched.get("expired") != 1 or any(
            dynamodb.get_item(TableName=table, Key={"address": item["address"]}).get("Item")
            for item in (stale, {"address": {"S": "rehearsal-stale-envelope"}})):
        fail(f"the sweep left an expired unclaimed channel: {dispatched}")
    settled = grid.invoke("settlement", {"job": "settlement", "scheduledTime": "2026-12-03T10:00:00Z"})
    if period not in settled["settled"]:
        fail(f"settlement settled {settled}, not {period}")
    report = grid.expect(200, "GET", f"/portal/api/periods/{period}", token=grid.portal_token)
    figures = {k: report[k] for k in ("price", "matched", "imported", "exported", "revenue", "fee")}
    if figures != {"price": 120, "matched": 1500, "imported": 0, "exported": 500, "revenue": 180, "fee": 36}:
        fail(f"period {period} settled as {figures}")

    # The consumer pays its payment request on the ledger and says so on its channel.
    read = grid.gridctl("channel", "read", node, "--root", registered["root"], "--side-key", registered["sideKey"])
    request = next(json.loads(line.split(" ", 1)[1]) for line in read.splitlines() if "payment-request" in line)
    owed, address = request["owed"], request["paymentIdOrAddress"]

    def send(method, path, body, key=None):
        headers = {"content-type": "application/json", **({"x-account-key": key} if key else {})}
        urllib.request.urlopen(urllib.request.Request(
            ledger + path, data=json.dumps(body).encode(), method=method, headers=headers))

    send("PUT", "/accounts/consumer-0001/key", {"key": CONSUMER_KEY})
    send("POST", "/accounts/consumer-0001/deposit", {"amount": 1000})
    send("POST", "/batches", {"id": "pay-0001", "transfers": [{"from": "consumer-0001", "to": address, "amount": owed}]},
         key=CONSUMER_KEY)
    publish(consumer, {"command": "payment", "batchId": "pay-0001", "amount": owed})
    poll(grid)
    # A run follows batches while it has time (MONITOR_BUDGET_SECS): one run may do it all.
    schedule = {"job": "batch-monitor", "scheduledTime": "2026-12-03T10:00:00Z"}
    runs = [grid.invoke("batch-monitor", schedule) for _ in range(2)]
    done = {key: sum(run.get(key, 0) for run in runs) for key in ("verified", "payoutsSubmitted", "payoutsCommitted")}
    if done != {"verified": 1, "payoutsSubmitted": 1, "payoutsCommitted": 1}:
        fail(f"the batch monitor did {runs}")

    # The books, through the portal's API.
    producers = grid.expect(200, "GET", "/portal/api/producers", token=grid.portal_token)["items"]
    consumers = grid.expect(200, "GET", "/portal/api/consumers", token=grid.portal_token)["items"]
    paid_producer = next(p for p in producers if p["id"] == "producer-0001")
    paid_consumer = next(c for c in consumers if c["id"] == "consumer-0001")
    if (paid_consumer["billed"], paid_consumer["paid"]) != (180, 180):
        fail(f"the consumer's books: {paid_consumer}")
    if (paid_producer["earned"], paid_producer["paidOut"], paid_producer["owed"]) != (144, 144, 0):
        fail(f"the producer's books: {paid_producer}")
    with urllib.request.urlopen(f"{ledger}/accounts/wallet-producer-0001") as response:
        if json.load(response)["balance"] != 144:
            fail("the producer's wallet on the ledger does not hold its 144 IOTA")
    overview = grid.expect(200, "GET", "/portal/api/overview", token=grid.portal_token)
    for path in ("/portal/api/periods", "/portal/api/batches", "/portal/api/rejections", "/portal/api/heartbeats"):
        grid.expect(200, "GET", path, token=grid.portal_token)
    if (overview["paidIn"], overview["payouts"], overview["deadLetters"]) != (180, 144, 0):
        fail(f"the overview: {overview}")
    sign_in_and_out(grid)
    # The consumer's own statement, through the portal function: its line of the period.
    range_ = f"from={period}&to={period + 900_000}"
    statement = grid.expect(200, "GET", f"/members/consumer-0001/statement?{range_}", side_key=consumer["sideKey"])
    lines = [(line["local"], line["charge"]) for line in statement["periods"]]
    if lines != [(1500, 180)] or statement["totals"]["billed"] != 180:
        fail(f"the consumer's statement: {statement}")
    grid.expect(403, "GET", f"/members/consumer-0001/statement?{range_}", side_key=owner)
    member_signs_in_and_out(grid, "consumer-0001", consumer["sideKey"])
    grid.expect(200, "DELETE", f"/registration/consumer-0002/{leaving['sideKey']}")
    removed = grid.expect(200, "DELETE", f"/registration/producer-0001/{producer['sideKey']}")
    if removed["itemsDeleted"] != 1:
        fail(f"removing the producer deleted {removed}")
    say("a period ran through the deployed functions: registered, read, settled, paid; the books balance")


# --- metrics -------------------------------------------------------------------------


def emf_sums(log, stack):
    """A function's metrics as CloudWatch reads them from its log: each Embedded Metric
    Format line, checked for the grid's namespace and the stack's dimension, summed by
    (metric name, the other dimensions)."""
    sums = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        with contextlib.suppress(json.JSONDecodeError):
            document = json.loads(line)
            if not isinstance(document, dict) or "_aws" not in document:
                continue
            for directive in document["_aws"]["CloudWatchMetrics"]:
                if directive["Namespace"] != "EnergyGrid" or document.get("Stack") != stack:
                    fail(f"{log.name}: a metric outside EnergyGrid or without Stack={stack}: {line}")
                for dimensions in directive["Dimensions"]:
                    if "Stack" not in dimensions:
                        fail(f"{log.name}: metrics without the Stack dimension: {line}")
                    labels = tuple(sorted((d, document[d]) for d in dimensions if d != "Stack"))
                    for metric in directive["Metrics"]:
                        value = document[metric["Name"]]
                        total = sum(value) if isinstance(value, list) else value
                        key = (metric["Name"], labels)
                        sums[key] = sums.get(key, 0) + total
    return sums


def check_metrics(stack, logs):
    """The period's figures as the functions' EMF lines carry them to CloudWatch."""
    metrics = {name: emf_sums(logs / f"{name}.log", stack) for name in FUNCTIONS}
    got = {
        "readings ingested": metrics["poller"].get(("readings_ingested", ()), 0),
        "readings refused, not allowed": metrics["poller"].get(("readings_rejected", (("reason", "not-allowed"),)), 0),
        "channel messages stored by the node": metrics["channels"].get(("channel_messages_attached", ()), 0),
        "revenue": metrics["settlement"].get(("revenue_iota", ()), 0),
        "fee": metrics["settlement"].get(("fee_iota", ()), 0),
        "settlement runs": metrics["settlement"].get(("job_runs", (("job", "settlement"),)), 0),
    }
    # Stored by the node: three hellos (producer, consumer, the claimed source), three
    # readings and the consumer's payment.
    want = {"readings ingested": 2, "readings refused, not allowed": 1, "channel messages stored by the node": 7,
            "revenue": 180, "fee": 36, "settlement runs": 1}
    if got != want:
        fail(f"the functions' metrics: {got}, expected {want}")
    if metrics["settlement"].get(("periods_settled", ()), 0) < 1:
        fail(f"no period settled in the settlement function's metrics: {metrics['settlement']}")
    # On Lambda by status class only: a route per dimension would be dozens of custom metrics.
    if metrics["channels"].get(("http_requests", (("status", "2xx"),)), 0) < 6:
        fail(f"the channels function's requests are not counted by status: {metrics['channels']}")
    say(f"metrics: the period's EMF lines carry {got}")


# --- IAM -------------------------------------------------------------------------------


def iam_requests(log):
    """A function's logged requests as IAM sees them: (action, resource ARN)."""
    table = lambda name, index=None: (  # noqa: E731
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}" + (f"/index/{index}" if index else ""))
    requests = []
    for line in log.read_text().splitlines() if log.exists() else []:
        entry = json.loads(line)
        service, operation, resources = entry["service"], entry["operation"], entry["resources"]
        if service == "DynamoDB":
            for r in resources:
                if operation == "TransactWriteItems":
                    action = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                              "ConditionCheck": "ConditionCheckItem"}[r["kind"]]
                    requests.append((f"dynamodb:{action}", table(r["table"])))
                elif operation == "TransactGetItems":
                    requests.append(("dynamodb:GetItem", table(r["table"])))
                else:
                    requests.append((f"dynamodb:{operation}", table(r["table"], r.get("index"))))
        elif service == "S3":
            for r in resources:
                bucket, key = r["bucket"], r.get("key")
                action, resource = {
                    "GetObject": ("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}"),
                    "HeadObject": ("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}"),
                    "PutObject": ("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}"),
                    "DeleteObject": ("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{key}"),
                    "DeleteObjects": ("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{key}"),
                    "ListObjectsV2": ("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
                }[operation]
                requests.append((action, resource))
        elif service == "SSM":
            for r in resources:
                requests.append((f"ssm:{operation}", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{r['parameter']}"))
        elif service == "SQS":
            action = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                      "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}.get(operation, operation)
            for r in resources:
                queue = r["queueUrl"].rstrip("/").rsplit("/", 1)[-1]
                requests.append((f"sqs:{action}", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"))
        else:
            fail(f"a request to {service} ({operation}) the rehearsal does not know how to check")
    return requests


def role_policies(role_arn):
    """The role's policies as IAM holds them: its own, and the AWS managed ones attached."""
    iam = client("iam")
    role = role_arn.rsplit("/", 1)[-1]
    policies = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        # moto answers a document a template gave as an object with Python's repr of it.
        if isinstance(document, str):
            document = json.loads(document) if document.lstrip().startswith("{\"") else ast.literal_eval(document)
        policies.append({"name": name, "policy": document})
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
        if isinstance(document, str):
            document = json.loads(document)
        policies.append({"name": attached["PolicyName"], "policy": document})
    return policies


def check_iam(stack, logs):
    lam = client("lambda")
    functions = {}
    for name in FUNCTIONS:
        role = lam.get_function_configuration(FunctionName=f"{stack}-{name}")["Role"]
        requests = iam_requests(logs / f"{name}.jsonl")
        if name == "poller":
            queue = lam.get_function_configuration(FunctionName=f"{stack}-{name}")["Environment"]["Variables"][
                "POLL_WORK_QUEUE_URL"].rsplit("/", 1)[-1]
            requests += [(action, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}") for action in TRIGGER]
        functions[name] = {"roleArn": role, "policies": role_policies(role),
                           "requests": [{"action": a, "resource": r} for a, r in requests]}
    result = subprocess.run(["node", ROOT / "scripts" / "iam" / "check.mjs"], input=json.dumps(
        {"accountId": ACCOUNT, "functions": functions}), capture_output=True, text=True)
    if result.returncode not in (0, 1):
        fail(f"the IAM evaluator failed: {result.stderr}")
    report = json.loads(result.stdout)
    (ROOT / "target" / "rehearsal").mkdir(parents=True, exist_ok=True)
    (ROOT / "target" / "rehearsal" / "iam.json").write_text(json.dumps(report, indent=2))
    for name, used in report["used"].items():
        say(f"  {name} used: {', '.join(u.replace(f'arn:aws:', '').replace(f':{ACCOUNT}:', ':') for u in used)}")
    for unused in report["unusedWrites"]:
        say(f"  {unused['function']} may {unused['action']} on {unused['resource']} and never did")
    if report["denied"]:
        for denied in report["denied"]:
            say(f"  DENIED: {denied['function']} {denied['action']} on {denied['resource']} ({denied['result']})")
        fail(f"{len(report['denied'])} requests the functions made would be denied by their roles")
    say(f"IAM: {report['checked']} distinct requests of seven functions, each allowed by its role; "
        f"{len(report['unusedWrites'])} granted writes unused")
    return report


# --- the rehearsal --------------------------------------------------------------------


def main():
    # Stopped, it still restores the code change and stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # SAM's translator resolves the region's pseudo parameters from the environment.
    os.environ.update(AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION)
    restore_an_interrupted_change()
    processes = Processes()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            ledger_port = free_port()
            ledger = f"http://127.0.0.1:{ledger_port}"
            processes.start([DEBUG / "gridctl", "ledger", "--listen", f"127.0.0.1:{ledger_port}",
                             "--data-dir", scratch / "ledger", "--final-after-ms", "0"],
                            env=dict(os.environ, LEDGER_KEY=LEDGER_KEY))
            wait_for(ledger_port, "the development ledger")
            client("s3").create_bucket(Bucket=ARTIFACTS)
            # As docs/deploy.md has the operator do before a first deploy.
            for stack in STACKS:
                client("ssm").put_parameter(Name=f"/{stack}/portal-token", Type="SecureString",
                                            Value=f"{PORTAL_TOKEN}-{stack}")
            parameters = {"LedgerUrl": ledger}

            # The first deploy ships a change in crates/; the second, the code as it is.
            with code_change():
                sam_build()
                deploy(STACKS[1], package_and_translate(parameters), parameters)
            check_bootstraps(STACKS[1], deployed_bootstraps(STACKS[1]), changed=True)
            sam_build()
            translated = package_and_translate(parameters)
            for stack in STACKS:
                deploy(stack, translated, parameters)
            for stack in STACKS:
                check_bootstraps(stack, deployed_bootstraps(stack), changed=False)
            check_names_are_scoped(translated)
            check_schedules(translated)

            logs = scratch / "requests"
            logs.mkdir()
            grid = Grid(STACKS[0], processes, logs)
            hand_over_the_queue_trigger(STACKS[0])
            openapi = grid.expect(200, "GET", "/openapi.json")
            check_routes(translated, openapi)
            check_throttles_and_growth(translated, openapi)
            a_period_through_the_functions(grid, ledger)
            check_metrics(STACKS[0], logs)
            check_iam(STACKS[0], logs)
    finally:
        processes.stop()
    say("passed")


if __name__ == "__main__":
    sys.exit(main())
