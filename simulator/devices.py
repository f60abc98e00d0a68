"""placeholder"""


def write_devices(*a, **k):
    raise NotImplementedError
