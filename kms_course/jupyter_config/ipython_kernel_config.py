# Every IPython kernel of the course's environment imports the sandbox module first, so that a KMS call
# made before the lesson's setup cell gets a clear SandboxError instead of reaching AWS
# (kms_course.sandbox). `kms-course lab` copies it to <prefix>/etc/ipython/ (kms_course.lab).
c = get_config()  # noqa: F821 (provided by traitlets when the file is loaded)
# It also shows the course's one-line hints under known errors (kms_course.hints), such as moto 4's
# `from moto import mock_kms`, even before the setup cell.
c.IPKernelApp.exec_lines = [
    "import kms_course.sandbox",
    "import kms_course.hints as _h; _h.install(); del _h",
]
