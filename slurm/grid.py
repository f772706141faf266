"""A grid file (``configs/grid/*.yaml``) expanded into its runs: settings x pairs x seeds.

A setting names a hydra config of the grid's ``config_dir`` (its model) and a data folder
per pair (its vocabulary and corpus), as a pattern or pair by pair. Settings that differ
by data only, such as no anchors or Wiki-CC, share a config. A run is named
``<setting>/<pair>/seed<seed>``, which is also its folder under ``out_dir``.
"""

from pathlib import Path
from typing import List

from slurm.config import GridConfig, LaunchError, SettingConfig
from slurm.runs import PretrainRun


def data_folder(setting: SettingConfig, name: str, pair: str, where: str) -> str:
    """The setting's data folder for ``pair``: from data_by_pair, else the data pattern."""
    if pair in setting.data_by_pair:
        return setting.data_by_pair[pair]
    fields = {"pair": pair, **{f"lang{i}": lang for i, lang in enumerate(pair.split("-"), start=1)}}
    try:
        folder = setting.data.format(**fields)
    except (KeyError, IndexError, ValueError) as error:
        raise LaunchError(
            f"grid file {where}: settings.{name}.data {setting.data!r}: cannot fill in {error} for pair {pair} "
            f"(it knows {', '.join('{' + key + '}' for key in fields)}; or give settings.{name}.data_by_pair.{pair})"
        ) from None
    if not folder:
        raise LaunchError(f"grid file {where}: settings.{name}: no data folder for {pair} (give data or data_by_pair)")
    return folder


def expand_grid(grid: GridConfig, where: str) -> List[PretrainRun]:
    """Every run of ``grid`` (read from file ``where``), in file order."""
    config_dir = Path(grid.config_dir).resolve()
    if not config_dir.is_dir():
        raise LaunchError(f"grid file {where}: config_dir {grid.config_dir} is not a folder")
    if not grid.runs:
        raise LaunchError(f"grid file {where}: 'runs' is empty")
    runs, names = [], set()
    for index, block in enumerate(grid.runs):
        unknown = [name for name in block.settings if name not in grid.settings]
        if unknown:
            raise LaunchError(
                f"grid file {where}: runs[{index}].settings: unknown setting(s) {', '.join(unknown)} "
                f"(defined under 'settings': {', '.join(grid.settings)})"
            )
        for name in block.settings:
            setting = grid.settings[name]
            for pair in block.pairs:
                for seed in block.seeds or grid.seeds:
                    run_name = f"{name}/{pair}/seed{seed}"
                    if run_name in names:
                        raise LaunchError(f"grid file {where}: run {run_name} appears twice")
                    names.add(run_name)
                    data = data_folder(setting, name, pair, where)
                    runs.append(
                        PretrainRun(
                            name=run_name,
                            config_dir=str(config_dir),
                            config=setting.config,
                            data=str(Path(data).resolve()),
                            langs=pair.split("-"),
                            seed=seed,
                            run_dir=str(Path(grid.out_dir).resolve() / run_name),
                            precision=grid.precision,
                            overrides=[*grid.overrides, *setting.overrides],
                        )
                    )
    return runs
