# Every IPython kernel of the course's environment imports the sandbox module first, so that a KMS call
# made before the lesson's setup cell gets a clear SandboxError instead of reaching AWS
# (kms_course.sandbox.start). `kms-course lab` copies it to <prefix>/etc/ipython/
# (kms_course.lessons.lab).
c = get_config()  # noqa: F821 (provided by traitlets when the file is loaded)
# It also installs the course's short errors and one-line hints (kms_course.lessons.hints) before
# any cell: a ClientError shows its code, message and hint first (%tb shows the full traceback); a
# course name used before the setup cell (after a restart: `check`, `kms`, ...) says to run the
# first code cell. And it imports the progress panel, so that the first check after a restart
# refreshes the panel the previous kernel left on screen (kms_course.lessons.progress).
c.IPKernelApp.exec_lines = [
    "import kms_course.sandbox.start",
    "import kms_course.lessons.hints as _h; _h.install(); del _h",
    "import kms_course.lessons.progress as _p; del _p",
]
