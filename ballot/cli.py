"""The `ballot` command."""

from __future__ import annotations

import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy import select

from ballot.counting.errors import OperationError
from ballot.documents import csvexport
from ballot.documents.slips import SlipError, SlipSheet, render_slips
from ballot.meetings import meetingfile, units
from ballot.meetings.setup import name_gaps
from ballot.meetings.sittings import open_item
from ballot.meetings.users import UserError, create_user, new_password
from ballot.storage import audit
from ballot.storage.db import Database, LiveStoreMissing, keep_files_private, make_instance_private
from ballot.storage.migrate import upgrade
from ballot.storage.models import ROLE_LABELS, ROLES, Meeting, VoterGroup
from ballot.voting import credentials

from .config import SECRET_FILE, default_instance_path, load_settings

CLI_ACTOR = audit.Actor("cli", "admin")
EXAMPLES = Path(__file__).resolve().parent / "examples"
if not EXAMPLES.is_dir():
    EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_FILE = "county-cadre-recommendation.toml"

instance_option = click.option(
    "--instance",
    "instance",
    type=click.Path(path_type=Path),
    default=None,
    help="实例文件夹（数据库、密钥）；默认取环境变量 BALLOT_INSTANCE，否则 ./instance",
)


@contextmanager
def _opened(url: str):
    """The database for one command, closed when it is done."""
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()


def _settings(instance: Path | None, create: bool = False):
    settings = load_settings(instance or default_instance_path(), create_secret=create)
    make_instance_private(settings.instance_path)
    return settings


class _Commands(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LiveStoreMissing as exc:  # any command that opens the database
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Commands, help="无记名投票与民主测评服务 ballot")
def main():
    keep_files_private()  # the database, its WAL, backups and code lists: the service user's alone


@main.command(help="新建实例：实例文件夹、密钥（0600）和数据库结构。")
@instance_option
def init(instance):
    settings = _settings(instance, create=True)
    upgrade(settings.database_url)
    _name_own_unit(settings)
    key = _ensure_signing_key(settings)
    if key is not None:
        click.echo(f"签名密钥已生成：{key.id_hex}（指纹 {key.fingerprint}）")
    click.echo(f"实例已就绪：{settings.instance_path}")


def _ensure_signing_key(settings):
    """The instance's first key, unless the database or the folder has one (an app server joining
    others adopts theirs); the new key, or None."""
    from ballot.archive import keyring, signing

    with _opened(settings.database_url) as database:
        try:
            with database.write() as s:
                current = keyring.adopt_files(s, settings.instance_path)
                if current is not None:
                    if not keyring.has_private(settings.instance_path, current):
                        click.echo(
                            f"注意：当前签名密钥 {current.id_hex} 的私钥不在本实例文件夹中；"
                            "多台应用服务器须挂载同一个实例文件夹（共享卷），否则本服务器不能签名报告。",
                            err=True,
                        )
                    return None
                return keyring.rotate(s, settings.instance_path)
        except signing.SigningError as exc:
            raise click.ClickException(str(exc)) from None


@main.group(help="签名密钥（结果报告的 Ed25519 签名）。")
def keys():
    pass


@keys.command("show", help="显示当前签名密钥的编号和指纹（供监票人在表决前记下）。")
@instance_option
def keys_show(instance):
    from ballot.archive import keyring

    settings = _settings(instance)
    with _opened(settings.database_url) as database:
        with database.read() as s:
            keys = keyring.public_keys(s, settings.instance_path)
    for i, key in enumerate(keys):
        click.echo(f"{'当前' if i == 0 else '旧'}密钥 {key.id_hex}  指纹 {key.fingerprint}")


@keys.command("rotate", help="生成新的签名密钥；旧公钥保留，用于核验以前的报告。")
@instance_option
def keys_rotate(instance):
    """Recorded in the database: every worker and app server signs with and shows the new key from
    its next request on, without a restart."""
    from ballot.archive import keyring

    settings = _settings(instance)
    with _opened(settings.database_url) as database:
        with database.write() as s:
            keyring.adopt_files(s, settings.instance_path)  # an older instance: its keys first
            key = keyring.rotate(s, settings.instance_path)
    click.echo(f"新签名密钥：{key.id_hex}（指纹 {key.fingerprint}）")


@main.command(
    "export",
    help="导出会议的签名计票归档（tally.json、report.pdf、签名、选票导出、回执、操作记录、results.xlsx）到文件夹。",
)
@instance_option
@click.argument("meeting_id", type=int)
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--accept-unprintable",
    is_flag=True,
    help="已核对：姓名中有报告字库印不出的字，仍然导出（tally.json 保存原字，PDF 中该字可能为空框）",
)
def export_cmd(instance, meeting_id, folder, accept_unprintable):
    from ballot.archive import build as archive
    from ballot.archive import keyring, signing
    from ballot.documents import reportfonts
    from ballot.storage.models import Meeting

    settings = _settings(instance)
    with _opened(settings.database_url) as database:
        try:
            with database.read() as s:
                meeting = s.get(Meeting, meeting_id)
                if meeting is None:
                    raise click.ClickException(f"会议 #{meeting_id} 不存在")
                files = archive.build(s, meeting, keyring.signing_key(s, settings.instance_path), accept_unprintable)
        except archive.UnprintableNames as exc:
            raise click.ClickException(f"{exc}\n核对后如仍要导出，请加 --accept-unprintable") from None
        except (OperationError, signing.SigningError, reportfonts.FontError) as exc:
            raise click.ClickException(str(exc)) from None
    archive.write(files, folder)
    click.echo(f"已写入 {folder}：{'、'.join(files)}")


@main.command("verify", help="离线核验签名计票归档（文件夹或 zip）：签名、密钥、摘要、审计日志、按选票重新计票。")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="会前公布的 minisign 公钥文件（可给多个，如轮换前后的密钥）",
)
@click.option("--fingerprint", multiple=True, help="会前公布的密钥指纹（印在票码条和大屏上），与归档自带公钥核对")
def verify_cmd(path, public_key, fingerprint):
    from ballot.archive import signing
    from ballot.archive import verify as verifier

    try:
        keys = [signing.PublicKey.parse(p.read_text()) for p in public_key]
        checks = verifier.verify(verifier.read(path), keys, list(fingerprint))
    except (signing.SigningError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for c in checks:
        click.echo(c.line)
    failed = [c for c in checks if not c.ok]
    click.echo("结论：全部通过" if not failed else f"结论：{len(failed)} 项失败")
    if failed:
        raise SystemExit(1)


@main.group(help="数据库结构管理。")
def db():
    pass


@db.command("upgrade", help="把数据库结构升级到最新版本（Alembic 迁移）。")
@instance_option
def db_upgrade(instance):
    settings = _settings(instance)
    upgrade(settings.database_url)
    click.echo("数据库结构已是最新。")


def _name_own_unit(settings) -> None:
    """The instance's own unit takes BALLOT_UNIT_NAME when set (else it stays “本单位”)."""
    if not settings.unit_name:
        return
    with _opened(settings.database_url) as database:
        try:
            with database.write() as s:
                own = units.root(s)
                if own.name != settings.unit_name:
                    units.rename_unit(s, CLI_ACTOR, own, settings.unit_name)
        except units.UnitError as exc:
            raise click.ClickException(f"BALLOT_UNIT_NAME：{exc}") from None


def _unit_id(session, name_or_id: str | None) -> int | None:
    if name_or_id is None:
        return None
    unit = units.find_unit(session, name_or_id)
    if unit is None:
        raise click.ClickException(f"没有单位“{name_or_id}”（见 ballot unit list）")
    return unit.id


def _create_admin(settings, username: str, password: str | None) -> str:
    password = password or new_password()
    with _opened(settings.database_url) as database:
        with database.write() as s:
            created = create_user(s, username, password, "admin", "管理员")
            audit.record(s, CLI_ACTOR, "user.create", None, in_unit=created.unit_id, username=username, role="admin")
    return password


@db.command("compact", help="完成结束表决后推迟的数据库整理（封存后清除存储痕迹）。")
@instance_option
def db_compact(instance):
    from ballot.voting.sealing import compact_pending

    with _opened(_settings(instance).database_url) as database:
        done = compact_pending(database)
    if not done:
        raise click.ClickException(f"整理未完成：{done.reason}。请处理后重试")
    click.echo("数据库整理已完成。")


@main.command("create-admin", help="新建管理员账号；不给密码时随机生成并打印。")
@instance_option
@click.option("--username", default="admin", show_default=True)
@click.option("--password", default=None, help="至少 10 个字符；省略则随机生成")
def create_admin(instance, username, password):
    try:
        password = _create_admin(_settings(instance), username, password)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"管理员 {username} 已创建，密码：{password}")


@main.group(help="单位：本实例的单位（上级单位）及其下级单位（各县区、各部门；只分一级）。")
def unit():
    pass


@unit.command("add", help="新建下级单位（挂在本实例的单位之下）。")
@instance_option
@click.argument("name")
def unit_add(instance, name):
    with _opened(_settings(instance).database_url) as database:
        try:
            with database.write() as s:
                created = units.create_unit(s, CLI_ACTOR, name)
                click.echo(f"已新建单位 #{created.id}：{created.name}")
        except units.UnitError as exc:
            raise click.ClickException(str(exc)) from None


@unit.command("rename", help="修改单位名称（按编号或原名称）。")
@instance_option
@click.argument("unit_ref")
@click.argument("new_name")
def unit_rename(instance, unit_ref, new_name):
    with _opened(_settings(instance).database_url) as database:
        try:
            with database.write() as s:
                target = s.get(units.Unit, _unit_id(s, unit_ref))
                units.rename_unit(s, CLI_ACTOR, target, new_name)
        except units.UnitError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"单位已改名为“{new_name}”")


@unit.command("list", help="列出单位：编号、名称、层级。")
@instance_option
def unit_list(instance):
    with _opened(_settings(instance).database_url) as database:
        with database.read() as s:
            for u in units.all_units(s):
                click.echo(f"{u.id}\t{u.name}\t{'上级单位' if u.parent_id is None else '下级单位'}")


@main.group(help="工作人员账号。")
def user():
    pass


@user.command("add", help="新建工作人员账号；不给密码时随机生成并打印。")
@instance_option
@click.option("--username", required=True)
@click.option(
    "--role",
    type=click.Choice(ROLES),
    required=True,
    help="admin 管理员、clerk 会务人员、chair 主持人、scrutineer 监票人、teller 计票人",
)
@click.option("--unit", "unit_ref", default=None, help="所属单位（编号或名称，见 ballot unit list）；默认本实例的单位")
@click.option("--name", "display_name", default="", help="姓名")
@click.option("--password", default=None, help="至少 10 个字符；省略则随机生成")
def user_add(instance, username, role, unit_ref, display_name, password):
    password = password or new_password()
    with _opened(_settings(instance).database_url) as database:
        try:
            with database.write() as s:
                created = create_user(s, username, password, role, display_name, _unit_id(s, unit_ref))
                audit.record(s, CLI_ACTOR, "user.create", None, in_unit=created.unit_id, username=username, role=role)
                where = units.unit_name(s, created.unit_id)
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{ROLE_LABELS[role]} {username}（{where}）已创建，密码：{password}")


@main.group("api-token", help="JSON API 的访问令牌（只显示一次，服务器只存哈希）。")
def api_token():
    pass


@api_token.command("create", help="为一个用户新建令牌；令牌以该用户的角色操作。")
@instance_option
@click.option("--user", "username", required=True)
@click.option("--name", default="API", help="令牌用途，如“组织部干部系统”")
@click.option("--unit", "unit_ref", default=None, help="令牌所属单位（只能看到该单位的会议）；默认该用户的单位")
def api_token_create(instance, username, name, unit_ref):
    from ballot.meetings.apitokens import create_token
    from ballot.storage.models import User

    with _opened(_settings(instance).database_url) as database:
        with database.write() as s:
            user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
            if user is None:
                raise click.ClickException(f"没有用户“{username}”")
            unit_id = _unit_id(s, unit_ref)
            if unit_id is not None and unit_id not in units.visible_unit_ids(s, user):
                raise click.ClickException(f"用户“{username}”看不到该单位的会议，不能为其新建该单位的令牌")
            token = create_token(s, user, name, CLI_ACTOR, unit_id)
    click.echo(token)


@api_token.command("revoke", help="吊销令牌（按编号，见 list）。")
@instance_option
@click.argument("token_id", type=int)
def api_token_revoke(instance, token_id):
    from ballot.meetings.apitokens import revoke

    with _opened(_settings(instance).database_url) as database:
        try:
            with database.write() as s:
                revoke(s, token_id, CLI_ACTOR)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"令牌 {token_id} 已吊销")


@api_token.command("list", help="列出令牌（不含令牌本身）。")
@instance_option
def api_token_list(instance):
    from ballot.meetings.apitokens import tokens

    with _opened(_settings(instance).database_url) as database:
        with database.read() as s:
            for t, user in tokens(s):
                click.echo(f"{t.id}\t{t.name}\t{user}\t{t.created_at}\t{'已吊销' if t.revoked else '有效'}")


@main.group(help="会议。")
def meeting():
    pass


@meeting.command("load", help="从 TOML 会议文件导入会议（格式见 examples/README.md）。")
@instance_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--unit", "unit_ref", default=None, help="会议所属单位（编号或名称）；默认本实例的单位")
def meeting_load(instance, file, unit_ref):
    with _opened(_settings(instance).database_url) as database:
        try:
            with database.write() as s:
                m = meetingfile.load(s, CLI_ACTOR, meetingfile.decode(file.read_bytes()), _unit_id(s, unit_ref))
                click.echo(f"已导入会议 #{m.id}：{m.title}（{len(m.groups)} 个表决组，{len(m.items)} 个议题）")
                for gap in name_gaps(m):
                    click.echo(f"警告：“{gap.char}”{gap.problem}（{'、'.join(gap.names)}），请人工核对排序", err=True)
        except OperationError as exc:
            raise click.ClickException(str(exc)) from None


@main.group(help="票码。")
def codes():
    pass


def _issue(settings, database, meeting_id: int, group_name: str | None, count: int):
    with database.write() as s:
        m = s.get(Meeting, meeting_id)
        if m is None:
            raise click.ClickException(f"会议 #{meeting_id} 不存在")
        groups = [g for g in m.groups if group_name in (None, g.name)]
        if not groups:
            raise click.ClickException(f"会议中没有表决组“{group_name}”")
        group: VoterGroup = groups[0]
        issued, batch_id = credentials.issue_codes_batch(s, settings.derived_key("credential"), group, count, CLI_ACTOR)
        return m, group, issued, batch_id


def _key_fingerprint(settings) -> str:
    from ballot.archive import keyring

    with _opened(settings.database_url) as database:
        with database.read() as s:
            key = keyring.current(s, settings.instance_path)
    return key.fingerprint if key else ""


@codes.command("issue", help="为一个表决组签发一次性票码：打印用的票（PDF）和/或 CSV。票码只此一次，服务器不保存原文。")
@instance_option
@click.argument("meeting_id", type=int)
@click.option("--group", "group_name", default=None, help="表决组名称；默认第一个表决组")
@click.option("--count", type=int, required=True)
@click.option(
    "--pdf",
    "pdf_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="票的 PDF（A4，每页 10 张，带裁切线）",
)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--public-url", default=None, help="二维码中的网址；默认取 BALLOT_PUBLIC_URL，否则 http://127.0.0.1:8000")
@click.option("--wifi", default="", help="印在票上的无线网络名称")
def codes_issue(instance, meeting_id, group_name, count, pdf_path, csv_path, public_url, wifi):
    if not pdf_path and not csv_path:
        raise click.ClickException("请用 --pdf 或 --csv 指定票码的去处（票码只此一次）")
    settings = _settings(instance)
    base_url = public_url or settings.public_url or "http://127.0.0.1:8000"
    with _opened(settings.database_url) as database:
        try:
            m, group, issued, batch_id = _issue(settings, database, meeting_id, group_name, count)
            if pdf_path:
                sheet = SlipSheet(m.title, group.name, m.date, base_url, wifi, _key_fingerprint(settings))
                try:
                    with open(pdf_path, "wb") as out:
                        pages = render_slips(
                            sheet, issued, out, lambda done, total: click.echo(f"\r{done}/{total} 页", nl=False)
                        )
                except SlipError as exc:
                    with database.write() as s:
                        credentials.void_batch(s, meeting_id, batch_id, CLI_ACTOR)
                    raise click.ClickException(f"{exc}（本批票码已作废）") from None
                click.echo(f"\n已写入 {pdf_path}：{pages} 页")
        except credentials.IssueError as exc:
            raise click.ClickException(str(exc)) from None
    if csv_path:
        _write_codes_csv(csv_path, m.title, group.name, issued, base_url)
    click.echo(f"已为“{group.name}”签发 {len(issued)} 个票码")


@codes.command("void-unused", help="关门：作废一个表决组全部未使用的票（多余的票不能再投票）。")
@instance_option
@click.argument("meeting_id", type=int)
@click.option("--group", "group_name", required=True)
def codes_void_unused(instance, meeting_id, group_name):
    with _opened(_settings(instance).database_url) as database:
        with database.write() as s:
            m = s.get(Meeting, meeting_id)
            groups = [g for g in (m.groups if m else []) if g.name == group_name]
            if not groups:
                raise click.ClickException(f"会议 #{meeting_id} 中没有表决组“{group_name}”")
            n = credentials.void_unused(s, groups[0], CLI_ACTOR)
    click.echo(f"已作废 {n} 张未使用的票")


def _write_codes_csv(path: Path, title: str, group: str, issued: list[str], base_url: str) -> None:
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        rows = [[i, code, f"{base_url.rstrip('/')}/v/{code}", title, group] for i, code in enumerate(issued, start=1)]
        csvexport.write_rows(fh, [["序号", "票码", "投票链接", "会议", "表决组"], *rows])


@main.command(help="在服务运行时在线备份 SQLite 实例（一致的快照，可直接用作数据库文件）。")
@instance_option
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
def backup(instance, destination):
    from ballot.storage.backup import BackupError, backup_sqlite

    try:
        size = backup_sqlite(_settings(instance).database_url, destination)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"已备份到 {destination}（{size / 1024:.0f} KB）")


@main.command(help="运行服务（gunicorn 多进程；请求完整收到后才交给线程处理，慢速或空闲连接不占线程）。")
@instance_option
@click.option("--host", default="127.0.0.1", show_default=True, help="会场局域网用 0.0.0.0")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--public-url", default=None, help="手机访问的网址（印在票的二维码里），如 http://vote.example.org")
def serve(instance, host, port, workers, threads, public_url):
    from .serve import serve as run

    settings = _settings(instance)
    run(settings.instance_path, host, port, workers, threads, public_url)


@main.command(help="演示：新建实例、导入示例会议、签发 30 个票码、开始第一个议题，然后运行服务。")
@click.option(
    "--instance", "instance", type=click.Path(path_type=Path), default=Path("demo-instance"), show_default=True
)
@click.option("--host", default="127.0.0.1", show_default=True, help="会场局域网用 0.0.0.0")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="只准备数据，不启动服务（测试用）")
def demo(instance, host, port, no_serve):
    instance = instance.resolve()
    if instance.exists():
        if not (instance / SECRET_FILE).exists() and any(instance.iterdir()):
            raise click.ClickException(f"{instance} 不是演示实例文件夹，拒绝清空")
        shutil.rmtree(instance)
    settings = _settings(instance, create=True)
    upgrade(settings.database_url)
    _ensure_signing_key(settings)
    _name_own_unit(settings)
    password = _create_admin(settings, "admin", None)
    with _opened(settings.database_url) as database:
        with database.write() as s:
            m = meetingfile.load(s, CLI_ACTOR, (EXAMPLES / DEMO_FILE).read_text(encoding="utf-8"))
            meeting_id, first_item = m.id, m.items[0].id
        m, group, issued, _batch = _issue(settings, database, meeting_id, None, 30)
        with database.write() as s:
            open_item(s, CLI_ACTOR, first_item)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown_host}:{port}"
    codes_file = instance / "demo-codes.csv"
    _write_codes_csv(codes_file, m.title, group.name, issued, base)
    click.echo("=" * 64)
    click.echo(f"演示实例：{instance}")
    click.echo(f"管理页面：{base}/admin/    用户名 admin    密码 {password}")
    click.echo(f"示例投票链接：{base}/v/{issued[0]}")
    click.echo(f"全部 30 个演示票码：{codes_file}（仅演示用；正式会议的票码不落盘）")
    click.echo("=" * 64)
    sys.stdout.flush()
    if not no_serve:
        from .serve import serve as run

        run(instance, host, port, workers=2, threads=8, public_url=None)


if __name__ == "__main__":
    main()
