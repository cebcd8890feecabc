"""The console's HTTP surface under /console: sign-in, pages, their live JSON, actions.

GET  /console/signin, POST /console/signin, POST /console/signout
GET  /console/<page>                 HTML (303 to sign-in without a session)
GET  /console/<page>?format=json     the page's live regions and chart data
                                     (401 without a session); pages poll it
POST /console/<page>/<action>        CSRF-checked; actions that stop things
                                     answer with a confirmation page first
GET  /console/static/<file>          the CSS and JS shipped in the package
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from openecs.console import actions, catalog_pages, cluster_pages, cost_page, reads
from openecs.console.html import Html, fmt, join
from openecs.console.layout import Rendered, layout
from openecs.console.sessions import SESSION_COOKIE, SIGNIN_COOKIE, KeyPair, Session, SessionKeeper
from openecs.domain.errors import AwsError
from openecs.domain.prices import PriceTable
from openecs.usecases import cost, task_definitions
from openecs.usecases.backend import Backend

__all__ = ["Console", "console_routes"]

log = logging.getLogger("openecs.console")

FLASH_COOKIE = "openecs_console_flash"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

PageRenderer = Callable[[Request, Session], Rendered]
Action = Callable[[Request, Session, Mapping[str, str]], "ActionResult"]


class ActionResult:
    """Where to go after an action, or what to confirm before doing it."""

    def __init__(
        self, back: str, message: str = "", confirm: str | None = None, error: bool = False
    ) -> None:
        self.back = back
        self.message = message
        self.confirm = confirm
        self.error = error


MAX_FORM_BYTES = 64 * 1024


async def _form(request: Request) -> dict[str, str]:
    """A url-encoded form body (the only kind the console's forms send). Parsed here:
    Starlette's own form parser needs python-multipart, which the server does not."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        return {}
    return dict(pairs)


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/console/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/clusters"


def _with_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


class Console:
    def __init__(
        self,
        backend: Backend,
        key_pairs: Iterable[KeyPair],
        region: str,
        prices: PriceTable | None = None,
    ) -> None:
        self.backend = backend
        self.sessions = SessionKeeper(key_pairs, backend.clock)
        self.region = region
        self.prices = prices or cost.load_price_table(None)

    # -- sessions ---------------------------------------------------------------------

    def _session(self, request: Request) -> Session | None:
        return self.sessions.session(request.cookies.get(SESSION_COOKIE))

    def _cookie_args(self, request: Request) -> dict[str, Any]:
        return {
            "httponly": True,
            "samesite": "strict",
            "secure": request.url.scheme == "https",
            "path": "/console",
        }

    def _unauthenticated(self, request: Request) -> Response:
        if request.query_params.get("format") == "json":
            return _with_headers(JSONResponse({"error": "Sign in first."}, status_code=401))
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return _with_headers(
            RedirectResponse(f"/console/signin?next={quote(target, safe='')}", status_code=303)
        )

    async def signin_form(
        self, request: Request, error: str = "", status_code: int = 200
    ) -> Response:
        token = request.cookies.get(SIGNIN_COOKIE)
        if not token or len(token) < 20:
            token = secrets.token_urlsafe(24)
        nxt = _safe_next(request.query_params.get("next"))
        body = fmt(
            '<form class="signin" method="post" action="/console/signin">'
            '<input type="hidden" name="csrf" value="{}">'
            '<input type="hidden" name="next" value="{}">'
            "{}"
            '<label>Access key ID <input name="accessKeyId" autocomplete="username" required>'
            "</label>"
            '<label>Secret access key <input name="secretAccessKey" type="password" '
            'autocomplete="current-password" required></label>'
            '<label>Region <input name="region" value="{}" required></label>'
            '<button type="submit">Sign in</button></form>'
            '<p class="muted">Use the key pair the server printed at start (also in '
            "<code>&lt;data-dir&gt;/credentials.json</code>).</p>",
            token,
            nxt,
            fmt('<p class="error" role="alert">{}</p>', error) if error else Html(""),
            self.region,
        )
        page = Rendered("Sign in", body)
        response = HTMLResponse(layout(page, None), status_code=status_code)
        response.set_cookie(SIGNIN_COOKIE, token, max_age=3600, **self._cookie_args(request))
        return _with_headers(response)

    async def signin(self, request: Request) -> Response:
        if request.method == "GET":
            if self._session(request) is not None:
                nxt = _safe_next(request.query_params.get("next"))
                return _with_headers(RedirectResponse(nxt, status_code=303))
            return await self.signin_form(request)
        form = await _form(request)
        expected = request.cookies.get(SIGNIN_COOKIE)
        given = str(form.get("csrf") or "")
        if not expected or not hmac.compare_digest(expected, given):
            return await self.signin_form(request, "The sign-in form expired; try again.", 403)
        region = str(form.get("region") or self.region).strip()
        cookie = self.sessions.sign_in(
            str(form.get("accessKeyId") or ""), str(form.get("secretAccessKey") or ""), region
        )
        if cookie is None or not region.replace("-", "").isalnum():
            log.info("console sign-in refused")
            return await self.signin_form(request, "Those keys are not valid here.", 401)
        response = RedirectResponse(_safe_next(str(form.get("next") or "")), status_code=303)
        response.set_cookie(SESSION_COOKIE, cookie, max_age=12 * 3600, **self._cookie_args(request))
        response.delete_cookie(SIGNIN_COOKIE, path="/console")
        return _with_headers(response)

    async def signout(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return self._unauthenticated(request)
        form = await _form(request)
        if not self.sessions.check_csrf(session, str(form.get("csrf") or "")):
            return _with_headers(Response("CSRF token missing or wrong.", status_code=403))
        self.sessions.sign_out(session)
        response = RedirectResponse("/console/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/console")
        return _with_headers(response)

    # -- pages ------------------------------------------------------------------------

    def page(self, render: PageRenderer) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = self._session(request)
            if session is None:
                return self._unauthenticated(request)
            as_json = request.query_params.get("format") == "json"
            try:
                rendered = await run_in_threadpool(render, request, session)
            except (LookupError, AwsError) as exc:
                message = exc.message if isinstance(exc, AwsError) else str(exc.args[0])
                if as_json:
                    return _with_headers(JSONResponse({"error": message}, status_code=404))
                page = Rendered("Not found", fmt('<p class="error">{}</p>', message))
                return _with_headers(HTMLResponse(layout(page, session), status_code=404))
            if as_json:
                return _with_headers(
                    JSONResponse(
                        {
                            "regions": {k: str(v) for k, v in rendered.regions.items()},
                            "data": rendered.data,
                        }
                    )
                )
            flash = unquote(request.cookies.get(FLASH_COOKIE) or "")
            response = HTMLResponse(layout(rendered, session, flash))
            if flash:
                response.delete_cookie(FLASH_COOKIE, path="/console")
            return _with_headers(response)

        return endpoint

    def action(self, act: Action) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = self._session(request)
            if session is None:
                return self._unauthenticated(request)
            form = await _form(request)
            if not self.sessions.check_csrf(session, form.get("csrf")):
                return _with_headers(
                    Response(
                        "CSRF token missing or wrong.", status_code=403, media_type="text/plain"
                    )
                )
            try:
                result = await run_in_threadpool(act, request, session, form)
            except (AwsError, ValueError) as exc:
                message = exc.message if isinstance(exc, AwsError) else str(exc)
                back = request.url.path.rsplit("/", 1)[0]
                result = ActionResult(back, f"Failed: {message}", error=True)
            if result.confirm is not None:
                return _with_headers(
                    HTMLResponse(self._confirm_page(request, session, form, result))
                )
            response = RedirectResponse(result.back, status_code=303)
            response.set_cookie(
                FLASH_COOKIE, quote(result.message)[:900], **self._cookie_args(request)
            )
            return _with_headers(response)

        return endpoint

    def _confirm_page(
        self, request: Request, session: Session, form: Mapping[str, str], result: ActionResult
    ) -> Html:
        fields = join(
            fmt('<input type="hidden" name="{}" value="{}">', k, v)
            for k, v in form.items()
            if k not in ("csrf", "confirm")
        )
        body = fmt(
            '<p class="confirm-question">{}</p><form class="action" method="post" action="{}">'
            '<input type="hidden" name="csrf" value="{}">{}'
            '<input type="hidden" name="confirm" value="yes">'
            '<button type="submit" class="danger" id="confirm">Yes, go ahead</button> '
            '<a class="button" href="{}">Cancel</a></form>',
            result.confirm,
            request.url.path,
            session.csrf_token,
            fields,
            result.back,
        )
        return layout(Rendered("Please confirm", body), session)

    async def static(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        path = STATIC_DIR / name
        suffix = path.suffix
        if "/" in name or name.startswith(".") or suffix not in STATIC_TYPES or not path.is_file():
            return Response("Not found", status_code=404)
        return Response(
            path.read_bytes(),
            media_type=STATIC_TYPES[suffix],
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    async def root(self, request: Request) -> Response:
        return RedirectResponse("/console/clusters", status_code=303)

    # -- renderers --------------------------------------------------------------------

    def clusters(self, request: Request, s: Session) -> Rendered:
        return cluster_pages.clusters_page(reads.cluster_summaries(self.backend, s.scope))

    def cluster(self, request: Request, s: Session) -> Rendered:
        name = request.path_params["cluster"]
        return cluster_pages.cluster_page(reads.cluster_detail(self.backend, s.scope, name), s)

    def service(self, request: Request, s: Session) -> Rendered:
        p = request.path_params
        detail = reads.service_detail(self.backend, s.scope, p["cluster"], p["service"])
        previous = reads.previous_task_definition(self.backend, s.scope, detail.view)
        forecast = None
        try:
            forecast = cost_page.forecast_facts(
                cost.forecast_service(
                    self.backend,
                    s.scope,
                    cluster=p["cluster"],
                    service=p["service"],
                    prices=self.prices,
                )
            )
        except AwsError as exc:
            log.debug("no forecast for %s: %s", p["service"], exc.message)
        return cluster_pages.service_page(detail, s, previous, forecast)

    def task(self, request: Request, s: Session) -> Rendered:
        p = request.path_params
        detail = reads.task_detail(self.backend, s.scope, p["cluster"], p["task"])
        return cluster_pages.task_page(detail, s)

    def task_definitions(self, request: Request, s: Session) -> Rendered:
        return catalog_pages.task_definitions_page(
            reads.task_definition_families(self.backend, s.scope)
        )

    def family(self, request: Request, s: Session) -> Rendered:
        family = request.path_params["family"]
        revisions = reads.task_definition_revisions(self.backend, s.scope, family)
        return catalog_pages.family_page(family, revisions, s)

    def _revision(self, s: Session, family: str, revision: Any) -> Any:
        return task_definitions.describe_task_definition(
            self.backend, s.scope, f"{family}:{int(revision)}", None
        ).definition

    def revision(self, request: Request, s: Session) -> Rendered:
        p = request.path_params
        definition = self._revision(s, p["family"], p["revision"])
        estimate = None
        with contextlib.suppress(AwsError):
            estimate = cost.estimate_task_definition(
                self.backend, s.scope, definition.arn, prices=self.prices
            )
        return catalog_pages.task_definition_page(definition, s, estimate)

    def diff(self, request: Request, s: Session) -> Rendered:
        family, q = request.path_params["family"], request.query_params
        a, b = q.get("a", ""), q.get("b", "")
        if not (a.isdigit() and b.isdigit()):
            raise LookupError("Name two revisions to compare: ?a=1&b=2.")
        return catalog_pages.task_definition_diff_page(
            self._revision(s, family, a), self._revision(s, family, b)
        )

    def load_balancers(self, request: Request, s: Session) -> Rendered:
        return catalog_pages.load_balancers_page(reads.load_balancers(self.backend, s.scope))

    def load_balancer(self, request: Request, s: Session) -> Rendered:
        name = request.path_params["name"]
        return catalog_pages.load_balancer_page(
            reads.load_balancer_detail(self.backend, s.scope, name)
        )

    def glossary(self, request: Request, s: Session) -> Rendered:
        return catalog_pages.glossary_page()

    def cost(self, request: Request, s: Session) -> Rendered:
        q = request.query_params
        group_by = q.get("groupBy") or "service"
        tag = (q.get("tag") or "").strip()
        since = q.get("since") or "24h"
        back = dict(cost_page.SINCE_CHOICES).get(since)
        if back is None:
            since, back = "24h", 86400
        cluster = (q.get("cluster") or "").strip()
        wanted = f"tag:{tag}" if group_by == "tag" and tag else group_by
        if wanted == "tag":
            raise LookupError("Name a tag key to group by.")
        report = cost.cost_report(
            self.backend,
            s.scope,
            cluster=cluster or None,
            since=self.backend.clock.now() - back if back else None,
            group_by=wanted,
            prices=self.prices,
        )
        return cost_page.cost_page(report, group_by=group_by, tag=tag, since=since, cluster=cluster)

    # -- actions ----------------------------------------------------------------------

    def _service_back(self, request: Request) -> str:
        p = request.path_params
        cluster, service = quote(p["cluster"], safe=""), quote(p["service"], safe="")
        return f"/console/clusters/{cluster}/services/{service}"

    def scale(self, request: Request, s: Session, form: Mapping[str, str]) -> ActionResult:
        p, back = request.path_params, self._service_back(request)
        raw = form.get("desiredCount", "").strip()
        if not raw.isdigit():
            return ActionResult(
                back, "Failed: the desired count must be a whole number.", error=True
            )
        count = int(raw)
        current = reads.service_detail(self.backend, s.scope, p["cluster"], p["service"])
        desired = current.view.service.desired_count
        if count < desired and form.get("confirm") != "yes":
            return ActionResult(
                back,
                confirm=f"Scale {p['service']} in from {desired} to {count} tasks? "
                f"{desired - count} running task(s) will be stopped.",
            )
        message = actions.set_desired_count(
            self.backend, s.scope, p["cluster"], p["service"], count
        )
        return ActionResult(back, message)

    def deploy(self, request: Request, s: Session, form: Mapping[str, str]) -> ActionResult:
        p, back = request.path_params, self._service_back(request)
        if form.get("confirm") != "yes":
            return ActionResult(
                back,
                confirm=f"Start a new deployment of {p['service']}? Every task is replaced "
                "by a new one (old tasks stop once new ones run).",
            )
        return ActionResult(
            back, actions.force_new_deployment(self.backend, s.scope, p["cluster"], p["service"])
        )

    def rollback(self, request: Request, s: Session, form: Mapping[str, str]) -> ActionResult:
        p, back = request.path_params, self._service_back(request)
        target = form.get("taskDefinition", "")
        if not target:
            return ActionResult(back, "Failed: no task definition to roll back to.", error=True)
        if form.get("confirm") != "yes":
            return ActionResult(
                back,
                confirm=f"Roll {p['service']} back to {target.rsplit('/', 1)[-1]}? Its current "
                "tasks are replaced by tasks of that revision.",
            )
        return ActionResult(
            back, actions.roll_back(self.backend, s.scope, p["cluster"], p["service"], target)
        )

    def stop(self, request: Request, s: Session, form: Mapping[str, str]) -> ActionResult:
        p = request.path_params
        back = f"/console/clusters/{quote(p['cluster'], safe='')}/tasks/{quote(p['task'], safe='')}"
        if form.get("confirm") != "yes":
            return ActionResult(
                back,
                confirm=f"Stop task {p['task']}? Its containers get SIGTERM, then SIGKILL. "
                "A service starts a replacement.",
            )
        return ActionResult(back, actions.stop_task(self.backend, s.scope, p["cluster"], p["task"]))

    def deregister(self, request: Request, s: Session, form: Mapping[str, str]) -> ActionResult:
        p = request.path_params
        family, revision = p["family"], int(p["revision"])
        back = f"/console/task-definitions/{quote(family, safe='')}"
        if form.get("confirm") != "yes":
            return ActionResult(
                back,
                confirm=f"Deregister {family}:{revision}? It can no longer start new tasks or "
                "services (running ones keep running).",
            )
        return ActionResult(
            back, actions.deregister_revision(self.backend, s.scope, family, revision)
        )

    # -- wiring -----------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        page, act = self.page, self.action
        c = "/console/clusters/{cluster}"
        td = "/console/task-definitions/{family}"
        return [
            Route("/console", self.root, methods=["GET"]),
            Route("/console/", self.root, methods=["GET"]),
            Route("/console/signin", self.signin, methods=["GET", "POST"]),
            Route("/console/signout", self.signout, methods=["POST"]),
            Route("/console/static/{name}", self.static, methods=["GET"]),
            Route("/console/clusters", page(self.clusters), methods=["GET"]),
            Route(c, page(self.cluster), methods=["GET"]),
            Route(c + "/services/{service}", page(self.service), methods=["GET"]),
            Route(c + "/services/{service}/scale", act(self.scale), methods=["POST"]),
            Route(c + "/services/{service}/deploy", act(self.deploy), methods=["POST"]),
            Route(c + "/services/{service}/rollback", act(self.rollback), methods=["POST"]),
            Route(c + "/tasks/{task}", page(self.task), methods=["GET"]),
            Route(c + "/tasks/{task}/stop", act(self.stop), methods=["POST"]),
            Route("/console/task-definitions", page(self.task_definitions), methods=["GET"]),
            Route(td, page(self.family), methods=["GET"]),
            Route(td + "/diff", page(self.diff), methods=["GET"]),
            Route(td + "/{revision:int}", page(self.revision), methods=["GET"]),
            Route(td + "/{revision:int}/deregister", act(self.deregister), methods=["POST"]),
            Route("/console/load-balancers", page(self.load_balancers), methods=["GET"]),
            Route("/console/load-balancers/{name}", page(self.load_balancer), methods=["GET"]),
            Route("/console/glossary", page(self.glossary), methods=["GET"]),
            Route("/console/cost", page(self.cost), methods=["GET"]),
        ]


def console_routes(
    backend: Backend,
    key_pairs: Iterable[KeyPair],
    region: str,
    prices: PriceTable | None = None,
) -> list[BaseRoute]:
    """The console's routes, for the server's Starlette app (`prices`: the server's
    price table for the cost page; AWS's defaults when not given)."""
    return Console(backend, key_pairs, region, prices).routes()
