"""Image-quality metrics for the denoising notebooks."""

import torch


def psnr(prediction, target, data_range=1.0):
    """Peak signal-to-noise ratio in dB, averaged over a batch: 10 log10(data_range^2 / MSE).

    prediction, target: the same shape, either a batch (N, C, H, W) or one image (C, H, W) or
        (H, W); tensors (or arrays), values nominally in [0, data_range].
    data_range: the distance from the darkest to the brightest possible value (1.0 for [0, 1]).
    Returns a float: the PSNR of each image (MSE over its C * H * W values), averaged over N.
    It is inf for images identical to their target. Higher is better; every halving of the MSE
    adds about 3 dB.
    """
    prediction = torch.as_tensor(prediction).detach().double()
    target = torch.as_tensor(target).detach().double()
    if prediction.shape != target.shape:
        raise ValueError(f"psnr needs prediction and target of the same shape, got {tuple(prediction.shape)} "
                         f"and {tuple(target.shape)}.")
    if prediction.ndim not in (2, 3, 4) or prediction.numel() == 0:
        raise ValueError(f"psnr expects a batch (N, C, H, W) or one image (C, H, W) or (H, W), not empty; "
                         f"got shape {tuple(prediction.shape)}.")
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0 (1.0 for images in [0, 1], 255 for 8-bit), got {data_range}.")
    if prediction.ndim < 4:
        prediction, target = prediction[None], target[None]
    mse = (prediction - target).square().flatten(1).mean(1)
    return (10 * torch.log10(data_range ** 2 / mse)).mean().item()
