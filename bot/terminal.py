"""`citybot chat`: a terminal chat that takes the same path as the Telegram bot.

What the citizen types goes to Rasa's REST channel (bot/rasa.py) with sender = `terminal_chat_id`, so the
dialogue, the custom actions (which file as account `tg:<id>` and subscribe the chat to its cases) and the hub
are exactly those a Telegram chat uses. A Notifier runs in this process with a TerminalSink and `chats=` this
chat only, so the case's progress (受理, 派遣, 处理完毕 with the result photos' URLs, 结案 with the rating buttons)
appears here as it happens. Its feed cursor is "terminal", apart from the Telegram notifier's.

Threads: the main thread reads the terminal (so Ctrl-C and EOF behave as in any command line tool); an asyncio
loop in a second thread runs the Rasa/hub calls and the notifier. Output from both goes through one Console.

In a TTY the prompt is "你> " and labels are coloured; with piped stdin/stdout there are no decorations, one
reply line per message (continuation lines indented), which is what scripts and tests read.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import mimetypes
import shlex
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from hubapi.accounts import chat_account

log = logging.getLogger("citybot.terminal")

PROMPT = "你> "
RASA_WAIT_S = 300.0  # how long a message waits for a Rasa server that is still loading its model
RASA_RETRY_S = 2.0

HELP = """\
直接输入要反映的问题，例如：人民路128号门口的井盖不见了
  数字（如 1）            选择上一条消息里编号的按钮
  /photo 路径 [说明]      上传一张照片（JPEG/PNG/WebP）并随消息发送
  /location 纬度 经度     发送定位，例如 /location 22.5431 114.0579
  /help                   显示本帮助
  /quit                   退出（或 Ctrl-D）"""

STAFF_HINT = """\
工作人员操作（另开一个终端）：
  .venv/bin/citybot staff list                                  列出案件
  .venv/bin/citybot staff dispatch <案件编号>                   派遣
  .venv/bin/citybot staff resolve <案件编号> --photo data/sample_result.jpg --note 已更换井盖
  .venv/bin/citybot staff close <案件编号>                      核查结案（这里会收到评分按钮）"""


class Console:
    """The terminal: bot replies, pushes and the prompt, safe to use from both threads."""

    def __init__(self, out: TextIO, *, tty: bool):
        self.out, self.tty = out, tty
        self.buttons: list[tuple[str, str]] = []  # the numbered buttons of the last message shown
        self._lock = threading.RLock()
        self.prompting = False  # the main thread waits at the prompt: redraw it after a push

    def _style(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.tty else text

    def write(self, text: str = "") -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def show(self, label: str, text: str, *, buttons: Sequence[tuple[str, str]] = (),
             photos: Sequence[str] = (), push: bool = False) -> None:
        """One message: '<label>：text', continuation lines indented, photo URLs, numbered buttons."""
        lines = (text or "").splitlines() or [""]
        colour = "33" if push else "36"
        body = [self._style(f"{label}：", colour) + lines[0]] + [f"  {line}" for line in lines[1:]]
        body += [f"  照片：{url}" for url in photos]
        with self._lock:
            if buttons:
                self.buttons = list(buttons)
                numbered = [f"[{i}] {title}" for i, (title, _) in enumerate(buttons, 1)]
                if sum(len(n) + 2 for n in numbered) <= 40:
                    body.append("  " + "  ".join(numbered))
                else:
                    body += [f"  {n}" for n in numbered]
                body.append("  （输入编号选择）")
            redraw = push and self.tty and self.prompting
            if redraw:  # a push while the citizen is typing: print above the prompt, then redraw it
                self.out.write("\r\033[K")
            self.out.write("\n".join(body) + "\n")
            if redraw:
                self.out.write(PROMPT + _line_buffer())
            self.out.flush()


def _line_buffer() -> str:
    try:
        import readline
    except ImportError:
        return ""
    return readline.get_line_buffer()


def _flat(buttons) -> list[tuple[str, str]]:
    """Notifier payload buttons (rows of [label, data]) -> one numbered list."""
    return [(str(label), str(data)) for row in buttons or () for label, data in row]


class TerminalSink:
    """The notifier's delivery to this terminal (bot.notifier.Sink)."""

    def __init__(self, console: Console):
        self.console = console

    async def send_text(self, chat_id: str, text: str, buttons) -> None:
        self.console.show("通知", text, buttons=_flat(buttons), push=True)

    async def send_photos(self, chat_id: str, text: str, photos: list[str], buttons) -> None:
        self.console.show("通知", text, photos=photos, buttons=_flat(buttons), push=True)


class TerminalChat:
    """One citizen at the terminal. `handle(line)` does one turn; False means the citizen asked to quit."""

    def __init__(self, *, rasa, hub, chat_id: int, console: Console, rasa_wait_s: float = RASA_WAIT_S):
        self.rasa, self.hub, self.chat_id, self.console = rasa, hub, int(chat_id), console
        self.rasa_wait_s = rasa_wait_s

    @property
    def account_id(self) -> str:
        return chat_account(self.chat_id)  # the account the dialogue actions file this chat's cases under

    async def handle(self, line: str) -> bool:
        line = line.strip()
        if not line:
            return True
        command, _, rest = line.partition(" ")
        if command in ("/quit", "/exit", "/q"):
            return False
        if command in ("/help", "/h", "?"):
            self.console.write(HELP)
        elif command == "/photo":
            await self._photo(rest.strip())
        elif command == "/location":
            await self._location(rest.strip())
        elif line.isascii() and line.isdigit():
            await self._button(int(line))
        else:
            await self.send(line)
        return True

    async def send(self, text: str, metadata: dict | None = None) -> None:
        from bot.rasa import RasaUnavailable

        loop = asyncio.get_running_loop()
        deadline, told = loop.time() + self.rasa_wait_s, False
        while True:
            try:
                replies = await self.rasa.send(self.chat_id, text, metadata)
                break
            except RasaUnavailable as exc:
                if loop.time() >= deadline:
                    self.console.show("系统", f"NLU 暂时不可用，请稍后再试。（{exc}）")
                    return
                if not told:
                    self.console.show("系统", "NLU 正在加载…（Rasa 服务器还没准备好，稍候自动重试）")
                    told = True
                await asyncio.sleep(RASA_RETRY_S)
        for r in replies:
            if r.text or r.buttons:
                self.console.show("机器人", r.text, buttons=r.buttons)
            if r.image:
                self.console.show("机器人", "（图片）", photos=[r.image])

    async def _photo(self, args: str) -> None:
        from hubapi.client import HubError

        try:
            parts = shlex.split(args)
        except ValueError:
            parts = args.split()
        if not parts:
            self.console.show("系统", "用法：/photo 路径 [说明]")
            return
        path, text = Path(parts[0]).expanduser(), " ".join(parts[1:])
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.console.show("系统", f"读不到照片文件 {path}：{exc.strerror or exc}")
            return
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            url = await self.hub.upload_media(data, path.name, ctype)
        except HubError as exc:
            self.console.show("系统", f"照片上传失败：{getattr(exc, 'description', None) or exc}")
            return
        self.console.show("系统", f"照片已上传：{url}")
        await self.send(text, {"photos": [url]})

    async def _location(self, args: str) -> None:
        parts = args.replace(",", " ").replace("，", " ").split()
        try:
            lat, long = float(parts[0]), float(parts[1])
            if not (-90 <= lat <= 90 and -180 <= long <= 180):
                raise ValueError
        except (IndexError, ValueError):
            self.console.show("系统", "用法：/location 纬度 经度，例如 /location 22.5431 114.0579")
            return
        await self.send(" ".join(parts[2:]), {"location": {"lat": lat, "long": long}})

    async def _button(self, n: int) -> None:
        from bot.messages import parse_rating

        buttons = self.console.buttons
        if not 1 <= n <= len(buttons):
            if buttons:
                self.console.show("系统", f"请输入 1–{len(buttons)} 之间的编号。")
            else:
                await self.send(str(n))  # no buttons to choose from: the number is a message (e.g. a case number)
            return
        title, payload = buttons[n - 1]
        rating = parse_rating(payload)
        if rating:
            await self._rate(*rating)
        else:
            await self.send(payload)

    async def _rate(self, case_id: str, stars: int) -> None:
        """The rating buttons under a closed case, as bot/rating.py answers them in Telegram."""
        from hubapi.client import Conflict, Forbidden, HubError, HubRejected

        try:
            await self.hub.rate(case_id, stars, account_id=self.account_id)
        except Forbidden:
            self.console.show("系统", "只有反映该问题的市民可以评价。")
        except Conflict:
            self.console.show("系统", "该案件已评价过，或目前还不能评价。")
        except HubRejected as exc:
            self.console.show("系统", f"评价失败：{exc.description}")
        except HubError:
            self.console.show("系统", "系统繁忙，请稍后再试。")
        else:
            self.console.buttons = []
            self.console.show("系统", f"感谢您的评价：{stars}分！")


def greeting(chat_id: int) -> str:
    return (f"citybot 终端聊天（会话编号 {chat_id}）：与 Telegram 机器人走同一条路——Rasa → 动作服务器 → "
            f"案件分拨平台，处理进展会推送到这里。\n{HELP}\n{STAFF_HINT}")


# -- the command ---------------------------------------------------------------------------------------------

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="chat with citybot in this terminal (Rasa, actions, hub, progress pushes)",
                       description="A terminal chat over the same path as the Telegram bot: Rasa REST channel → "
                                   "custom actions → hub; a notifier in this process shows the case's progress.")
    p.add_argument("--chat-id", type=int, help="sender/chat id (default: settings.terminal_chat_id)")
    p.add_argument("--rasa-url", help="Rasa server (default: settings.rasa_url)")
    p.add_argument("--hub-url", help="hub base URL (default: settings.hub_url)")
    p.add_argument("--no-notifier", action="store_true", help="do not show progress pushes")
    p.set_defaults(func=_run)


def _utf8(stream: TextIO) -> None:
    enc = (getattr(stream, "encoding", "") or "").lower().replace("-", "")
    if enc != "utf8" and hasattr(stream, "reconfigure"):
        stream.reconfigure(encoding="utf-8", errors="replace")


def _run(args: argparse.Namespace) -> int:
    from citybot.settings import get_settings

    if not args.verbose:  # the chat owns the terminal: only warnings from the parts below it
        logging.getLogger().setLevel(logging.WARNING)
    settings = get_settings()
    update = {k: v for k, v in (("hub_url", args.hub_url), ("rasa_url", args.rasa_url)) if v}
    if update:
        settings = settings.model_copy(update=update)
    chat_id = args.chat_id if args.chat_id is not None else settings.terminal_chat_id
    return run_chat(settings, chat_id=chat_id, notify=not args.no_notifier)


def run_chat(settings, *, chat_id: int, notify: bool = True, stdin: TextIO | None = None,
             stdout: TextIO | None = None) -> int:
    import signal

    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    _utf8(stdin)
    _utf8(stdout)
    tty = stdin.isatty() and stdout.isatty()
    if tty:
        try:
            import readline  # noqa: F401 - line editing (and CJK widths) for input()
        except ImportError:
            pass
    console = Console(stdout, tty=tty)

    def _sigterm(_signum, _frame):  # the supervisor stops us with SIGTERM: end like EOF
        raise SystemExit(0)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _sigterm)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="chat-loop", daemon=True)
    thread.start()

    def call(coro, timeout: float | None = None):
        fut = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return fut.result(timeout)
        except BaseException:
            fut.cancel()
            raise

    services = call(_start(settings, chat_id, console, notify))
    console.write(greeting(chat_id))
    try:
        while True:
            console.prompting = True
            try:
                line = input(PROMPT) if tty else stdin.readline()
            except EOFError:
                line = None
            finally:
                console.prompting = False
            if not line and not tty:  # '' = EOF on a pipe
                break
            if line is None:
                break
            if not call(services.chat.handle(line)):
                break
    except KeyboardInterrupt:
        pass
    finally:
        if tty:
            console.write()
        try:
            call(services.aclose(), timeout=30)
        except Exception as exc:  # noqa: BLE001 - shutting down anyway
            log.warning("closing the chat: %s", exc)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    return 0


class _Services:
    def __init__(self, chat: TerminalChat, rasa, hub, notifier=None, task: asyncio.Task | None = None):
        self.chat, self.rasa, self.hub, self.notifier, self.task = chat, rasa, hub, notifier, task

    async def aclose(self) -> None:
        if self.notifier is not None:
            await self.notifier.stop()  # sends in flight finish and are recorded
            if self.task is not None:
                await asyncio.gather(self.task, return_exceptions=True)
        await self.rasa.aclose()
        await self.hub.aclose()


async def _start(settings, chat_id: int, console: Console, notify: bool) -> _Services:
    from bot.rasa import RasaChannel
    from hubapi.client import HubClient

    rasa = RasaChannel(settings.rasa_url, timeout=60)
    hub = HubClient.from_settings(settings)
    chat = TerminalChat(rasa=rasa, hub=hub, chat_id=chat_id, console=console)
    if not notify:
        return _Services(chat, rasa, hub)

    import citybot.subscriptions  # noqa: F401 - registers its table for create_tables
    from bot.notifier import Notifier, NotifierConfig
    from citybot.db import create_tables, make_engine

    engine = make_engine(settings.resolved_database_url)
    await asyncio.to_thread(create_tables, engine)
    config = NotifierConfig.from_settings(settings, cursor="terminal", upload_media=False,
                                          chat_interval=min(settings.notifier_chat_interval_s, 0.2))
    notifier = Notifier(hub=hub, engine=engine, config=config, sink=TerminalSink(console), chats=[str(chat_id)])
    task = asyncio.create_task(_run_notifier(notifier), name="terminal-notifier")
    return _Services(chat, rasa, hub, notifier, task)


async def _run_notifier(notifier) -> None:
    while True:  # the notifier's own poll loop rides out an unreachable hub; anything else is logged and retried
        try:
            await notifier.run()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            log.warning("progress notifications stopped (%s); restarting them in 5 s", exc)
            await asyncio.sleep(5)
