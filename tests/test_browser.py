"""The course in a browser, as a student sees it: JupyterLab started with the README's command, driven
by headless Chromium.

- 02_unfold_convolution (instructor edition): Run All works, the unfold explorer's sliders render,
  moving one redraws its plot, and a check cell shows its report table.
- 05_sgd: the trajectory explorer redraws when momentum or nesterov change.
- 06_sequential and 09_capstone_noise2noise: their tqdm progress bars render as widgets and reach the end.
- 08_debugging_a_degenerate_autoencoder: the debug panel trains when its button is clicked.
- The student edition (`course-lib release`): 00_welcome runs top to bottom without a traceback, with
  the edition's own course_lib, so its progress table shows every exercise "not started"; and the files
  students edit are within reach of JupyterLab's file browser.

One JupyterLab per edition (module fixtures), one fresh browser per test. Screenshots go to
test-artifacts/screenshots/, which CI keeps; a failing test leaves one there named after itself.
"""

import contextlib
import dataclasses
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from course_lib.exercises import EXERCISES
from test_release import HIDE_EDITABLE_INSTALL

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")

SERVER_START_SECONDS = 90
PAGE_LOAD_SECONDS = 90
RUN_ALL_SECONDS = 240  # a notebook takes at most 60 s alone; CI runs other notebooks beside this one
WIDGET_SECONDS = 60
TRAIN_SECONDS = 120

# JupyterLab's settings for a headless run: no news or update questions in toasts over the notebook.
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                {"fetchNews": "false", "checkForUpdates": False}}


# --- JupyterLab ----------------------------------------------------------------------------------

@dataclasses.dataclass
class Server:
    """A running JupyterLab: ``root`` is the folder its file browser shows, ``course`` the edition."""

    url: str
    token: str
    log: Path
    course: Path
    root: Path

    def path_of(self, file):
        """The path JupyterLab knows ``file`` (in the edition) by, relative to its root."""
        assert file.is_relative_to(self.root), f"{file} is outside the folder JupyterLab serves, {self.root}"
        return file.relative_to(self.root).as_posix()

    def page(self, path):
        # ?reset: a fresh layout, so the page opens this notebook alone whatever an earlier test opened.
        return f"{self.url}/lab/tree/{path}?reset&token={self.token}"

    def get(self, api_path):
        """The answer to GET ``api_path`` (JSON), or None if there is none."""
        request = urllib.request.Request(f"{self.url}{api_path}", headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.load(response)
        except (OSError, ValueError):  # not listening yet, 404, or not JSON yet
            return None

    def log_tail(self):
        return self.log.read_text(errors="replace")[-4000:]


def readme_command(edition):
    """The README's command that opens the course, e.g. ["jupyter", "lab"]."""
    found = re.search(r"\bjupyter lab(?: [^\s`&|;]+)?", (edition / "README.md").read_text(encoding="utf-8"))
    assert found, f"{edition / 'README.md'} does not say how to open the course (no 'jupyter lab')"
    return found.group().split()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(edition, home, pythonpath):
    """JupyterLab serving ``edition`` by its README's command, with this Python; yields a Server.

    ``home`` (an empty folder) holds its settings, runtime files and log, so nothing of the machine's
    own ~/.jupyter gets in; ``pythonpath`` is what the kernels import course_lib from.
    """
    for name, settings in LAB_SETTINGS.items():
        path = home / "config" / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    port, token, log = free_port(), secrets.token_hex(24), home / "jupyterlab.log"
    command = [sys.executable, "-m", *readme_command(edition), "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               "--ServerApp.allow_root=True",  # CI containers run as root
               "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands, read the model
               "--LabApp.extension_manager=readonly"]  # no PyPI queries from an offline machine
    environment = {**os.environ, "PYTHONPATH": pythonpath, "JUPYTER_CONFIG_DIR": str(home / "config"),
                   "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_DATA_DIR": str(home / "data"),
                   "PYTHONDONTWRITEBYTECODE": "1"}
    with log.open("w") as log_file:
        process = subprocess.Popen(command, cwd=edition, env=environment, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, log, course=edition.resolve(), root=edition.resolve())
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not (server.get("/api/status") or {}).get("started"):
            assert process.poll() is None, f"JupyterLab exited with {process.returncode}:\n{server.log_tail()}"
            assert time.monotonic() < deadline, (f"JupyterLab did not answer /api/status within "
                                                 f"{SERVER_START_SECONDS} s:\n{server.log_tail()}")
            time.sleep(0.2)
        # The folder it serves as the server reports it: its argument, a file argument's folder, or the edition.
        info = json.loads(next((home / "runtime").glob("jpserver-*.json")).read_text())
        yield dataclasses.replace(server, root=Path(info["root_dir"]).resolve())
    finally:
        stop(process)


def stop(process):
    """Stop a server started in a session of its own: SIGTERM lets it shut its kernels down (they run in
    sessions of their own, and also exit when their parent dies); SIGKILL if it takes too long."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.fixture(scope="module")
def instructor_lab(tmp_path_factory):
    """JupyterLab on a copy of this repository's notebooks; kernels import this repository's course_lib."""
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "notebooks", course / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    shutil.copy(ROOT / "README.md", course)
    with jupyterlab(course, tmp_path_factory.mktemp("jupyter"), pythonpath=str(ROOT)) as server:
        yield server


@pytest.fixture(scope="module")
def student_lab(tmp_path_factory):
    """JupyterLab on a fresh student edition; its kernels import the edition's course_lib, never the
    instructor's (an editable install of this repository would otherwise fill in what the edition lacks)."""
    edition = tmp_path_factory.mktemp("release") / "student"
    released = subprocess.run([sys.executable, "-m", "course_lib", "release", str(edition)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert released.returncode == 0, released.stdout + released.stderr
    isolation = tmp_path_factory.mktemp("isolation")
    (isolation / "sitecustomize.py").write_text(HIDE_EDITABLE_INSTALL)
    with jupyterlab(edition, tmp_path_factory.mktemp("jupyter"),
                    pythonpath=os.pathsep.join([str(edition), str(isolation)])) as server:
        yield server


# --- the browser ---------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def chromium_installed():
    """Fails every test here, before a server starts, if Chromium or its driver is missing (no download)."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: the browser tests need Debian's Chromium and its "
                    "driver. Install them with: apt-get install chromium chromium-driver", pytrace=False)


@pytest.fixture(scope="module", autouse=True)
def fresh_screenshots():
    """This run's screenshots only: an old run's FAILED-*.png must not outlive the failure."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def browser(request):
    """Headless Chromium, 1400x1000; screenshots the page if the test fails."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    # Chromium leaves a folder in TMPDIR (its single-instance socket, whose path must stay short: not
    # tmp_path): give it one of its own, removed afterwards.
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as scratch:
        service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER), env={**os.environ, "TMPDIR": scratch})
        driver = webdriver.Chrome(service=service, options=options)
        failures = request.session.testsfailed
        try:
            yield driver
            if request.session.testsfailed > failures:  # the call phase is reported before this teardown
                screenshot(driver, f"FAILED-{request.node.name}")
        finally:
            driver.quit()


def screenshot(driver, name, element=None):
    """The window, or ``element`` whole: the window grows for the shot if the element is taller."""
    path = SCREENSHOTS / f"{name}.png"
    if element is None:
        driver.save_screenshot(str(path))
        return path
    window = driver.get_window_size()
    room = window["height"] - 300  # what the menus, toolbar and status bar leave to the notebook
    if element.rect["height"] > room:
        driver.set_window_size(window["width"], window["height"] + element.rect["height"] - room)
    try:
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        settle(driver, element)
        driver.execute_async_script(PAINTED, element)
        element.screenshot(str(path))
    finally:
        driver.set_window_size(window["width"], window["height"])
    return path


# Calls back once every image in arguments[0] is decoded and the browser has painted twice since.
PAINTED = """
const done = arguments[arguments.length - 1];
Promise.all(Array.from(arguments[0].querySelectorAll('img'), image => image.decode().catch(() => null)))
    .then(() => requestAnimationFrame(() => requestAnimationFrame(() => done())));
"""


def settle(driver, element):
    """Wait until ``element`` stops moving: JupyterLab lays the notebook out again after a resize or scroll."""
    positions = []

    def still(_):
        positions.append(element.rect)
        return positions[-2:] == [positions[-1]] * 2

    wait_for(driver, 10, still, "the notebook kept moving after a scroll")


def wait_for(driver, seconds, condition, failure):
    """WebDriverWait with a message that says what did not happen. An element the condition holds may be
    replaced while it looks (an output redrawn): it looks again at the next poll."""
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.25,
                             ignored_exceptions=[StaleElementReferenceException]).until(condition)
    except TimeoutException:
        raise AssertionError(f"after {seconds} s: {failure}") from None


# Every script starts with this: the open notebook panel whose file is arguments[0].
PANEL = """
const panel = window.jupyterapp && jupyterapp.shell && Array.from(jupyterapp.shell.widgets('main'))
    .find(widget => widget.context && widget.context.path === arguments[0] && widget.content);
"""
KERNEL_IDLE = PANEL + """
const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
return Boolean(kernel && kernel.status === 'idle');
"""
RUN_ALL = PANEL + """
window.runAllResult = undefined;
jupyterapp.commands.execute('notebook:run-all-cells')
    .then(result => { window.runAllResult = String(result); }, error => { window.runAllResult = String(error); });
"""
CELL_NODE = PANEL + """
const cell = panel.content.widgets.find(
    cell => cell.model.type === 'code' && cell.model.sharedModel.getSource().includes(arguments[1]));
return cell ? cell.node : null;
"""
# Errors a cell raised (JupyterLab shows them as stderr text, so the model says which they are), IPython's
# usage errors (a %%needs typo, printed to stderr), tracebacks printed as text, in cells or widgets, and
# widgets shown as text because they did not render.
ERRORS = PANEL + """
const errors = [];
panel.content.widgets.forEach((cell, index) => {
    for (const output of cell.model.type === 'code' ? cell.model.outputs.toJSON() : []) {
        if (output.output_type === 'error') errors.push(`cell ${index + 1}: ${output.ename}: ${output.evalue}`);
        if (output.name === 'stderr' && String(output.text).startsWith('UsageError'))
            errors.push(`cell ${index + 1}: ${output.text}`);
    }
});
for (const output of document.querySelectorAll('.jp-OutputArea-output')) {
    const text = output.textContent;
    if (text.includes('Traceback')) errors.push(text.slice(0, 2000));
    // A widget (an explorer, a tqdm bar) that did not render shows its Python repr or an error in its place.
    if (/Error displaying widget|^\\s*(HBox|VBox|FloatProgress|IntProgress)\\(/.test(text))
        errors.push(`a widget did not render: ${text.slice(0, 300)}`);
}
return errors;
"""


def open_and_run_all(driver, server, name):
    """Open notebooks/``name`` in JupyterLab, run all its cells (Run -> Run All Cells) and wait until the
    kernel is idle again; fails on a cell that raised. Returns the notebook's path in JupyterLab."""
    notebook = server.path_of(server.course / "notebooks" / name)
    driver.get(server.page(notebook))
    wait_for(driver, PAGE_LOAD_SECONDS, lambda driver: driver.execute_script(KERNEL_IDLE, notebook),
             f"{notebook} did not open with an idle kernel.\nServer log:\n{server.log_tail()}")
    driver.execute_script(RUN_ALL, notebook)
    result = wait_for(driver, RUN_ALL_SECONDS, lambda driver: driver.execute_script("return window.runAllResult"),
                      f"Run All Cells of {notebook} did not finish")
    wait_for(driver, RUN_ALL_SECONDS, lambda driver: driver.execute_script(KERNEL_IDLE, notebook),
             f"the kernel of {notebook} did not become idle after Run All")
    errors = driver.execute_script(ERRORS, notebook)
    assert not errors, f"{notebook}: a cell shows an error:\n" + "\n---\n".join(errors)
    assert result == "true", f"Run All of {notebook} stopped early: {result}"
    return notebook


def output_of(driver, notebook, source):
    """The output area of the first code cell whose source contains ``source``."""
    cell = driver.execute_script(CELL_NODE, notebook, source)
    assert cell is not None, f"{notebook} has no code cell containing {source!r}"
    return cell.find_element(By.CSS_SELECTOR, ".jp-Cell-outputArea")


def described(container, description):
    """The widget inside ``container`` whose description (label or button text) is ``description``."""
    found = container.find_elements(By.XPATH, f".//*[contains(@class, 'widget-inline-hbox') or self::button]"
                                              f"[./label[normalize-space()='{description}'] or "
                                              f"self::button[normalize-space()='{description}']]")
    assert found, f"no control described {description!r}; found: {labels_in(container)}"
    return found[0]


def labels_in(container):
    return [element.text for element in container.find_elements(By.CSS_SELECTOR, "label, button") if element.text]


# Where ipywidgets take a value: a slider's handle, a drop-down, a text or number field, a checkbox.
FIELDS = ".noUi-handle, select, input, textarea"
FIELD_VALUE = """
const field = arguments[0];
// a slider's aria-valuenow has one decimal only: its aria-valuetext has the value
return field.getAttribute('aria-valuetext') ?? (field.type === 'checkbox' ? String(field.checked) : field.value);
"""


def nudge(driver, control):
    """Change a control's value as a student would; returns its (value before, value after)."""
    field = control.find_element(By.CSS_SELECTOR, FIELDS)
    before = driver.execute_script(FIELD_VALUE, field)
    if field.tag_name == "select":  # the next option
        choice = Select(field)
        choice.select_by_index((choice.options.index(choice.first_selected_option) + 1) % len(choice.options))
    elif field.get_attribute("type") == "checkbox":
        field.click()
    elif "noUi-handle" in field.get_attribute("class"):  # one step right
        field.send_keys(Keys.ARROW_RIGHT)
    elif field.get_attribute("type") == "number":  # one step up; Enter sends it to the kernel
        field.send_keys(Keys.ARROW_UP, Keys.ENTER)
    else:
        field.send_keys(Keys.CONTROL, "a", "0.001", Keys.ENTER)
    try:  # the page may show the new value a moment later
        WebDriverWait(driver, 5, poll_frequency=0.1).until(
            lambda driver: driver.execute_script(FIELD_VALUE, field) != before)
    except TimeoutException:
        pass  # the caller says what it expected
    return before, driver.execute_script(FIELD_VALUE, field)


def plot_in(driver, widget):
    """The picture a widget's Output area shows now (its data URL) once the browser has decoded it, or None.
    One script reads it: a redraw replaces the image element."""
    return driver.execute_script("const image = arguments[0].querySelector('.widget-output img');"
                                 "return image && image.complete && image.naturalWidth ? image.src : null;", widget)


# --- 02_unfold_convolution -------------------------------------------------------------------------

EXPLORER_SLIDERS = ("kernel h", "kernel w", "stride", "padding", "dilation", "row", "col")


def test_unfold_explorer_redraws_when_a_slider_moves_and_check_cells_show_reports(instructor_lab, browser):
    notebook = open_and_run_all(browser, instructor_lab, "02_unfold_convolution.ipynb")

    explorer_output = output_of(browser, notebook, "display(explorer)")
    explorer = wait_for(browser, WIDGET_SECONDS, lambda _: explorer_output.find_elements(
        By.CSS_SELECTOR, ".widget-vbox"), "the unfold explorer widget did not render")[0]
    labels = labels_in(explorer)
    assert set(EXPLORER_SLIDERS) <= set(labels), f"explorer sliders: expected {EXPLORER_SLIDERS}, found {labels}"

    before = wait_for(browser, WIDGET_SECONDS, lambda _: plot_in(browser, explorer), "the explorer shows no plot")
    screenshot(browser, "02_unfold_explorer-row0", explorer)
    screenshot(browser, "02_unfold_convolution-page")

    moved = nudge(browser, described(explorer, "row"))
    assert tuple(map(float, moved)) == (0, 1), f"the row slider went from {moved[0]} to {moved[1]}, not 0 to 1"
    wait_for(browser, WIDGET_SECONDS, lambda _: plot_in(browser, explorer) not in (None, before),
             "the explorer's plot did not change after the row slider moved")
    screenshot(browser, "02_unfold_explorer-row1", explorer)

    report = output_of(browser, notebook, 'check_exercise("unfold")')
    tables = report.find_elements(By.TAG_NAME, "table")
    assert tables, f"the unfold check cell shows no report table: {report.text!r}"
    for summary in report.find_elements(By.TAG_NAME, "summary"):
        summary.click()  # unfold each case's table, as a student does to read it
    results = [row.find_elements(By.TAG_NAME, "td")[4].text for table in tables
               for row in table.find_elements(By.TAG_NAME, "tr")[1:]]
    assert results and set(results) == {"pass"}, f"the report's result column: {results}"
    screenshot(browser, "02_unfold_check_report", report)


# --- 05_sgd ----------------------------------------------------------------------------------------

def test_sgd_trajectory_redraws_when_momentum_or_nesterov_change(instructor_lab, browser):
    notebook = open_and_run_all(browser, instructor_lab, "05_sgd.ipynb")
    output = output_of(browser, notebook, "display(widgets.VBox(")
    trajectory = wait_for(browser, WIDGET_SECONDS, lambda _: output.find_elements(By.CSS_SELECTOR, ".widget-vbox"),
                          "the SGD trajectory widget did not render")[0]
    shown = wait_for(browser, WIDGET_SECONDS, lambda _: plot_in(browser, trajectory), "the trajectory shows no plot")
    screenshot(browser, "05_sgd-page")
    screenshot(browser, "05_sgd_trajectory-before", trajectory)

    for description in ("momentum", "nesterov"):
        before, after = nudge(browser, described(trajectory, description))
        assert before != after, f"the {description} control did not change (still {before})"
        shown = wait_for(browser, WIDGET_SECONDS, lambda _: plot_in(browser, trajectory) not in (None, shown)
                         and plot_in(browser, trajectory), f"the trajectory did not change after {description} did")
    screenshot(browser, "05_sgd_trajectory-after", trajectory)


# --- the progress bars of the training notebooks ------------------------------------------------------

@pytest.mark.parametrize("name", ["06_sequential.ipynb", "09_capstone_noise2noise.ipynb"])
def test_training_progress_bars_render_and_reach_the_end(instructor_lab, browser, name):
    notebook = open_and_run_all(browser, instructor_lab, name)
    widths = browser.execute_script(
        "return Array.from(document.querySelectorAll('.jp-OutputArea-output .widget-hprogress .progress-bar'),"
        " bar => bar.style.width)")
    assert widths, f"{notebook} shows no tqdm progress bar (tqdm.auto draws them as widgets)"
    assert "100%" in widths, f"no progress bar of {notebook} reached the end: widths {widths}"
    bar = browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output .widget-hprogress")[-1]
    screenshot(browser, f"{name.removesuffix('.ipynb')}-progress", bar)
    screenshot(browser, f"{name.removesuffix('.ipynb')}-page")


# --- 08_debugging_a_degenerate_autoencoder --------------------------------------------------------

DEBUG_CONTROLS = ("learning rate", "weight decay", "init", "centre inputs")


def test_debug_panel_trains_with_the_weight_decay_chosen(instructor_lab, browser):
    notebook = open_and_run_all(browser, instructor_lab, "08_debugging_a_degenerate_autoencoder.ipynb")
    panel = wait_for(browser, WIDGET_SECONDS, lambda driver: driver.find_elements(By.CSS_SELECTOR, ".debug-panel"),
                     f"{notebook} shows no element of class debug-panel")[0]
    for description in DEBUG_CONTROLS:
        described(panel, description)
    output = panel.find_element(By.CSS_SELECTOR, ".debug-panel-output")
    screenshot(browser, "08_debug_panel-before", panel)

    before, after = nudge(browser, described(panel, "weight decay"))
    assert before != after, f"the weight decay control did not change (still {before})"
    described(panel, "Train").click()
    wait_for(browser, TRAIN_SECONDS, lambda _: output.find_elements(By.TAG_NAME, "img") and output.text.strip(),
             f"after Train, the panel's output area has no image and text; it shows {output.text!r}")
    assert "Traceback" not in output.text, output.text
    screenshot(browser, "08_debug_panel-trained", panel)
    screenshot(browser, "08_debugging_a_degenerate_autoencoder-page")


# --- the student edition ----------------------------------------------------------------------------

def test_student_edition_welcome_runs_clean_with_nothing_started(student_lab, browser):
    notebook = open_and_run_all(browser, student_lab, "00_welcome.ipynb")
    progress = output_of(browser, notebook, "progress()")
    statuses = {}
    for row in progress.find_elements(By.CSS_SELECTOR, "table tr"):
        cells = row.find_elements(By.TAG_NAME, "td")
        if cells:
            statuses[cells[0].text] = cells[-1].text
    # "not started" everywhere shows the kernel imported the student edition: the instructor's passes.
    assert statuses == {exercise.id: "not started" for exercise in EXERCISES}
    screenshot(browser, "student_00_welcome-progress", progress)
    screenshot(browser, "student_00_welcome-page")


def test_student_edition_files_to_edit_open_in_jupyterlab(student_lab):
    exercise_file = student_lab.course / "course_lib" / "nn" / "activation.py"
    assert exercise_file.is_relative_to(student_lab.root), (
        f"JupyterLab, started as the README says, serves {student_lab.root}: its file browser cannot reach "
        f"{exercise_file.relative_to(student_lab.course)}")
    opened = student_lab.get(f"/api/contents/{student_lab.path_of(exercise_file)}")
    assert opened and "is not done yet" in opened["content"]
