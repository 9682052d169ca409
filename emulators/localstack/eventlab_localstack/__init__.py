"""eventlab's plugin for LocalStack 2026.3.0: code that runs inside the LocalStack process.

It imports LocalStack and never ``eventlab``: the emulator keeps an environment of its own.
:mod:`eventlab_localstack.fixes` repairs the LocalStack bugs the workbook meets.
"""
