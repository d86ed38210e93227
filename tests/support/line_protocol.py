"""A reference parser for the subset of InfluxDB line protocol the collector writes."""


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, object], int]:
    """A reference parser for the subset of line protocol the collector writes."""
    i, n = 0, len(line)

    def key_until(stops: str) -> str:
        nonlocal i
        out = []
        while i < n and line[i] not in stops:
            if line[i] == "\\" and i + 1 < n and line[i + 1] in ",= ":
                i += 1
            out.append(line[i])
            i += 1
        return "".join(out)

    measurement = key_until(", ")
    tags = {}
    while line[i] == ",":
        i += 1
        key = key_until("=")
        i += 1
        tags[key] = key_until(", ")
    assert line[i] == " "
    i += 1
    fields: dict[str, object] = {}
    while True:
        key = key_until("=")
        i += 1
        if line[i] == '"':
            i += 1
            out = []
            while line[i] != '"':
                if line[i] == "\\" and line[i + 1] in '\\"':
                    i += 1
                out.append(line[i])
                i += 1
            i += 1
            fields[key] = "".join(out)
        else:
            start = i
            while line[i] not in ", ":
                i += 1
            raw = line[start:i]
            if raw.endswith("i"):
                fields[key] = int(raw[:-1])
            elif raw in ("true", "false"):
                fields[key] = raw == "true"
            else:
                fields[key] = float(raw)
        if line[i] == " ":
            break
        i += 1
    return measurement, tags, fields, int(line[i + 1 :])
