from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent


def read_requirements(name: str) -> list[str]:
    return [
        line.strip()
        for line in (here / name).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


requirements = read_requirements("requirements.txt")

setup(
    name="lgfn",
    version="0.1.0",
    description="Local-Global Fusion Network for video super-resolution (Su et al., IEEE Access 2020)",
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["lgfn", "lgfn.*"]),
    # The paper's published scores, read by lgfn.evaluation.paper.
    package_data={"lgfn.evaluation": ["paper_tables.json"]},
    install_requires=requirements,
    extras_require={
        "dev": ["pytest==9.2.0", "ruff==0.17.6"],
        "mmcv": ["mmcv>=2.0"],
        "onnx": read_requirements("requirements-onnx.txt"),  # `lgfn export` and `--onnx`
    },
    entry_points={"console_scripts": ["lgfn=lgfn.cli:main"]},
)
