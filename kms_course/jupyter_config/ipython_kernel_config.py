# Every IPython kernel of the course's environment imports the sandbox module first, so that a KMS call
# made before the lesson's setup cell gets a clear SandboxError instead of reaching AWS
# (kms_course.sandbox). `kms-course lab` copies it to <prefix>/etc/ipython/ (kms_course.lab).
c = get_config()  # noqa: F821 (provided by traitlets when the file is loaded)
c.IPKernelApp.exec_lines = ["import kms_course.sandbox"]
